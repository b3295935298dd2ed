"""A judge checked against people: Cohen's κ and percent agreement with their intervals, on the runs
that have both a person's rating and the judge's pass or fail."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import promptlab_nb as pl
from promptlab_nb.core import errors
from promptlab_nb.evaluation.agreement import cohen_kappa

QUESTIONS = pd.DataFrame(
    {
        "country": ["France", "Japan", "Peru", "Kenya", "Chile", "Italy", "Spain", "Egypt"],
        "expected": ["Paris", "Tokyo", "Lima", "Nairobi", "Santiago", "Rome", "Madrid", "Cairo"],
    }
)
ANSWERS = {
    "france": "Paris",
    "japan": "Kyoto",
    "peru": "Lima",
    "kenya": "Mombasa",
    "chile": "Santiago",
    "italy": "Rome",
    "spain": "Barcelona",
    "*": "Cairo",
}
GRADES = {
    "paris": '{"score": 1}',
    "kyoto": '{"score": 1}',
    "lima": '{"score": 1}',
    "mombasa": '{"score": 0}',
    "santiago": '{"score": 0}',
    "rome": '{"score": 1}',
    "barcelona": '{"score": 0}',
    "*": '{"score": 1}',
}


def labels_from_table(table: list[list[int]]) -> tuple[list[str], list[str]]:
    """Two raters' labels reproducing a contingency table (rows: the first rater, columns: the second)."""
    categories = [f"c{index}" for index in range(len(table))]
    first, second = [], []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            first += [categories[i]] * count
            second += [categories[j]] * count
    return first, second


def kappa_of_shares(shares: np.ndarray) -> float:
    observed, chance = np.trace(shares), shares.sum(axis=1) @ shares.sum(axis=0)
    return (observed - chance) / (1 - chance)


def delta_method_standard_error(table: list[list[int]]) -> float:
    """The standard error of κ by the delta method done numerically: the gradient of κ in the cell shares
    by central differences, and the multinomial covariance of the shares."""
    counts = np.asarray(table, dtype=float)
    n = counts.sum()
    shares = (counts / n).ravel()
    step = 1e-6
    gradient = np.array(
        [
            (
                kappa_of_shares((shares + step * np.eye(shares.size)[i]).reshape(counts.shape))
                - kappa_of_shares((shares - step * np.eye(shares.size)[i]).reshape(counts.shape))
            )
            / (2 * step)
            for i in range(shares.size)
        ]
    )
    covariance = (np.diag(shares) - np.outer(shares, shares)) / n
    return math.sqrt(gradient @ covariance @ gradient)


def test_kappa_of_a_textbook_table():
    # Given two raters who both said yes 20 times, both no 15 times, and disagreed 15 times
    people, judge = labels_from_table([[20, 5], [10, 15]])

    # When their agreement is computed
    agreement = cohen_kappa(people, judge)

    # Then p_o = 0.7, p_e = 0.5 and κ = 0.4 (Wikipedia's worked example of Cohen's kappa)
    assert agreement.kappa == pytest.approx(0.4)
    assert agreement.percent == pytest.approx(0.7)
    assert agreement.n == 50


@pytest.mark.parametrize("table", [[[20, 5], [10, 15]], [[30, 2, 1], [4, 12, 3], [0, 5, 18]], [[9, 1], [0, 1]]])
def test_the_kappa_interval_uses_the_delta_method_standard_error(table):
    # Given two raters' labels
    people, judge = labels_from_table(table)

    # When their agreement is computed
    agreement = cohen_kappa(people, judge)

    # Then the interval is κ ± z·se with the delta-method standard error, clipped to [-1, 1]
    half_width = stats.norm.ppf(0.975) * delta_method_standard_error(table)
    assert agreement.kappa_ci_low == pytest.approx(max(agreement.kappa - half_width, -1), rel=1e-5)
    assert agreement.kappa_ci_high == pytest.approx(min(agreement.kappa + half_width, 1), rel=1e-5)


def test_percent_agreement_has_the_wilson_interval():
    # Given 35 agreements out of 50
    people, judge = labels_from_table([[20, 5], [10, 15]])

    # When their agreement is computed
    agreement = cohen_kappa(people, judge)

    # Then its interval is the Wilson score interval, computed here by its formula
    z = stats.norm.ppf(0.975)
    centre = (0.7 + z**2 / 100) / (1 + z**2 / 50)
    half_width = z / (1 + z**2 / 50) * math.sqrt(0.7 * 0.3 / 50 + z**2 / (4 * 50**2))
    assert (agreement.percent_ci_low, agreement.percent_ci_high) == pytest.approx(
        (centre - half_width, centre + half_width)
    )


def test_raters_who_never_vary_have_no_kappa():
    # Given both raters saying pass every time / When compared / Then κ is undefined, agreement is 100 %
    agreement = cohen_kappa([True] * 5, [True] * 5)
    assert math.isnan(agreement.kappa) and agreement.percent == 1.0


@pytest.fixture
def graded(lab):
    pl.mock_model("answers", ANSWERS)
    pl.mock_model("grader", GRADES)
    lab.templates.save("capital", "What is the capital of {{ country }}?", model="mock:answers")
    experiment = lab.run("capital", QUESTIONS, evaluators=["equals:expected"], progress=False)
    experiment.evaluate(pl.evals.judge("Is it the capital?", model="mock:grader"), progress=False)
    return experiment


def test_agreement_of_a_judge_with_people_on_the_runs_both_rated(lab, graded):
    # Given people rating six runs (one rating changed, one cleared) that the judge also scored
    runs = graded.runs.set_index("country")
    people = {"France": 1, "Japan": -1, "Peru": 1, "Kenya": -1, "Chile": 1, "Italy": 1}
    graded.rate(runs.loc["Japan", "run_id"], 1)
    for country, rating in people.items():
        graded.rate(runs.loc[country, "run_id"], rating)
    graded.rate(runs.loc["Spain", "run_id"], 1)
    graded.rate(runs.loc["Spain", "run_id"], 0)

    # When the judge's agreement with them is asked
    agreement = graded.agreement("judge")

    # Then it is computed on those six runs: the judge passed Japan and failed Chile, against them
    judge_passed = [runs.loc[country, "judge"] >= 0.5 for country in people]
    assert judge_passed == [True, True, True, False, False, True]
    expected = cohen_kappa([rating == 1 for rating in people.values()], judge_passed, "judge")
    assert agreement == expected
    assert agreement.n == 6 and agreement.percent == pytest.approx(4 / 6)
    assert agreement.kappa == pytest.approx(((4 / 6) - (4 / 6 * 4 / 6 + 2 / 6 * 2 / 6)) / (1 - (20 / 36)))


def test_agreement_without_ratings_says_to_rate_first(lab, graded):
    # Given no rating / When agreement is asked / Then the error says how to rate
    with pytest.raises(errors.InvalidData, match=r"exp\.rate"):
        graded.agreement(pl.evals.judge("Is it the capital?", model="mock:grader"))


def test_agreement_with_an_unknown_evaluator_lists_the_scored_ones(lab, graded):
    # Given scores of equals:expected and judge / When another name is asked / Then the error lists them
    with pytest.raises(errors.InvalidData, match="'equals:expected', 'judge'"):
        graded.agreement("contains:Paris")
