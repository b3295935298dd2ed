"""pass@k and pass^k from repeated runs: Chen et al.'s unbiased estimator averaged over rows, with an
interval, and a clear refusal when there are fewer repeats than k."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import promptlab_nb as pl
from promptlab_nb.core import errors
from promptlab_nb.evaluation.pass_at import pass_all_k, pass_at_k

QUESTIONS = pd.DataFrame(
    {"country": ["France", "Japan", "Peru", "Kenya"], "expected": ["Paris", "Tokyo", "Lima", "Nairobi"]}
)
FLAKY_VARIANT, STEADY_VARIANT = "capital@1 | mock:flaky", "capital@1 | mock:steady"


def subsets_share(outcomes: list[bool], k: int, rule) -> float:
    """The share of the k-subsets of a row's runs for which ``rule`` holds, by enumerating them."""
    subsets = list(itertools.combinations(outcomes, k))
    return sum(rule(subset) for subset in subsets) / len(subsets)


@pytest.mark.parametrize(("n", "c", "k"), [(3, 1, 2), (5, 0, 2), (5, 5, 3), (6, 2, 3), (4, 3, 1), (7, 4, 7)])
def test_the_estimator_is_the_share_of_k_subsets_that_pass(n, c, k):
    # Given a row run n times, c of which passed
    outcomes = [True] * c + [False] * (n - c)

    # When pass@k and pass^k are estimated
    # Then they are the shares of k-subsets with at least one pass, and with passes only
    assert pass_at_k(n, c, k) == pytest.approx(subsets_share(outcomes, k, any))
    assert pass_all_k(n, c, k) == pytest.approx(subsets_share(outcomes, k, all))


def test_a_hand_computed_case():
    # Given 3 runs with 1 pass / When k is 2 / Then pass@2 = 1 - C(2,2)/C(3,2) = 2/3 and pass^2 = 0
    assert pass_at_k(3, 1, 2) == pytest.approx(2 / 3)
    assert pass_all_k(3, 1, 2) == 0.0


FLAKY_ANSWERS = {
    "France": ["Paris", "Paris", "Paris"],
    "Japan": ["Tokyo", "Kyoto", "Tokyo"],
    "Peru": ["Lima", "Cusco", "Cusco"],
    "Kenya": ["Mombasa", "Mombasa", "Mombasa"],
}


def flaky_model():
    """Answers each country's question in turn from FLAKY_ANSWERS: 3, 2, 1 and 0 right of 3."""
    asked: Counter[str] = Counter()

    def respond(messages) -> str:
        country = next(name for name in FLAKY_ANSWERS if name in messages[-1]["content"])
        asked[country] += 1
        return FLAKY_ANSWERS[country][(asked[country] - 1) % 3]

    return respond


@pytest.fixture
def repeated(lab):
    pl.mock_model("flaky", flaky_model())
    pl.mock_model("steady", {"france": "Paris", "japan": "Tokyo", "peru": "Lima", "kenya": "Nairobi"})
    lab.templates.save("capital", "What is the capital of {{ country }}?")
    return lab.compare(
        ["capital"],
        QUESTIONS,
        models=["mock:flaky", "mock:steady"],
        repeats=3,
        evaluators=["equals:expected"],
        concurrency=1,
        progress=False,
    )


def test_pass_at_k_per_variant_matches_an_independent_count_from_the_runs(lab, repeated):
    # Given each row of the flaky variant run three times, computed independently from exp.runs
    runs = repeated.runs
    flaky = runs[runs["variant"] == FLAKY_VARIANT].groupby("row_index")["equals:expected"]
    per_row_at = flaky.apply(lambda scores: subsets_share(list(scores == 1.0), 2, any))
    per_row_all = flaky.apply(lambda scores: subsets_share(list(scores == 1.0), 2, all))

    # When pass@2 is asked
    table = repeated.pass_at(2)

    # Then each variant's figures are the row means with their t intervals (Wilson where every row agrees)
    line = table.loc[FLAKY_VARIANT]
    assert per_row_at.tolist() == pytest.approx([1, 1, 2 / 3, 0])
    assert per_row_all.tolist() == pytest.approx([1, 1 / 3, 0, 0])
    at_interval = stats.ttest_1samp(per_row_at, 0).confidence_interval(0.95)
    all_interval = stats.ttest_1samp(per_row_all, 0).confidence_interval(0.95)
    assert line["pass@k"] == pytest.approx(per_row_at.mean())
    assert (line["pass@k ci_low"], line["pass@k ci_high"]) == pytest.approx(
        (max(at_interval.low, 0), min(at_interval.high, 1))
    )
    assert line["pass^k"] == pytest.approx(per_row_all.mean())
    assert (line["pass^k ci_low"], line["pass^k ci_high"]) == pytest.approx(
        (max(all_interval.low, 0), min(all_interval.high, 1))
    )
    assert (line["rows"], line["min_repeats"]) == (4, 3)
    assert table.attrs["k"] == 2


def test_a_variant_that_always_passes_gets_a_wilson_interval_not_a_zero_width_one(lab, repeated):
    # Given the steady variant passing every run / When pass@3 is asked
    line = repeated.pass_at(3, "equals:expected").loc[STEADY_VARIANT]

    # Then both figures are 1 with the Wilson interval of 4 rows out of 4
    z2 = stats.norm.ppf(0.975) ** 2
    assert (line["pass@k"], line["pass^k"]) == (1.0, 1.0)
    assert line["pass@k ci_low"] == pytest.approx(4 / (4 + z2))
    assert line["pass^k ci_high"] == 1.0


def test_fewer_repeats_than_k_is_refused_with_what_to_do(lab, repeated):
    # Given three repeats / When pass@4 is asked / Then the error says how many repeats there are and to add some
    with pytest.raises(errors.InvalidData, match=r"pass@4 needs at least 4 repeats.*run 3 time.*repeats=4"):
        repeated.pass_at(4)


def test_a_failed_run_counts_as_a_failed_attempt(lab):
    # Given a model failing its first call of four, answering right otherwise
    model = pl.mock_model("sometimes", "Paris")
    model.errors.extend([errors.BadRequest("refused", provider="mock")])
    lab.templates.save("capital", "What is the capital of {{ country }}?", model="mock:sometimes")
    experiment = lab.run(
        "capital", QUESTIONS.head(1), repeats=4, evaluators=["contains:Paris"], concurrency=1, progress=False
    )

    # When pass^2 is asked
    line = experiment.pass_at(2).iloc[0]

    # Then the failed run is one of the four attempts: 3 passes out of 4
    assert line["pass^k"] == pytest.approx(math.comb(3, 2) / math.comb(4, 2))
    assert line["pass@k"] == 1.0


def test_an_evaluator_without_pass_or_fail_is_refused(lab):
    # Given a custom score with no pass/fail
    lab.templates.save("capital", "What is the capital of {{ country }}?", model="mock:echo")
    length = pl.evals.custom(lambda output, row: float(len(output)), name="chars")
    experiment = lab.run("capital", QUESTIONS, repeats=2, evaluators=[length], progress=False)
    # When pass@k is asked of it / Then the error says why
    with pytest.raises(errors.InvalidData, match="without a pass or fail"):
        experiment.pass_at(2, "chars")


def test_a_bad_k_is_refused(lab, repeated):
    # Given an experiment / When k is not a positive whole number / Then it is refused
    for k in (0, 1.5):
        with pytest.raises(errors.InvalidData, match="k must be a whole number"):
            repeated.pass_at(k)


def test_per_row_values_are_averaged_so_rows_weigh_the_same(lab, repeated):
    # Given the flaky variant's four rows / When pass@1 is asked / Then both figures are its plain pass rate
    runs = repeated.runs
    flaky = runs[runs["variant"] == FLAKY_VARIANT]
    expected = flaky.groupby("row_index")["equals:expected"].mean().mean()
    assert repeated.pass_at(1).loc[FLAKY_VARIANT, "pass@k"] == pytest.approx(expected)
    assert np.isclose(repeated.pass_at(1).loc[FLAKY_VARIANT, "pass^k"], expected)
