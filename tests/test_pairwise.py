"""Pairwise judging: two variants' outputs of one row compared in both orders, win rates with their
intervals, the judge's position bias, people's picks, and a Bradley–Terry ranking."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pairwise_support import (
    LONG_VARIANT,
    MID_VARIANT,
    QUESTIONS,
    SHORT,
    SHORT_VARIANT,
    compare_capitals,
    longer_wins,
    outputs_of,
    prefers_longer,
)
from scipy import optimize, special, stats

import promptlab_nb as pl
from promptlab_nb.core import errors
from promptlab_nb.evaluation.pairwise import FIRST, SECOND, TIE, PairwiseJudge, verdict
from promptlab_nb.evaluation.ranking import VIRTUAL_TIE, bradley_terry, fit_strengths


@pytest.fixture
def capitals(lab):
    return compare_capitals(lab)


def test_a_judge_that_always_prefers_the_first_answer_gives_only_ties_and_a_bias_rate_of_one(lab, capitals):
    # Given a judge that always answers "A", whichever output is shown first
    pl.mock_model("first", '{"winner": "A", "reason": "the first one"}')

    # When short is compared with long by that judge
    result = capitals.pairwise(SHORT_VARIANT, LONG_VARIANT, judge=pl.evals.pairwise("Better?", model="mock:first"))

    # Then both orders disagree on every row: all ties, a bias rate of 1, and a win rate of one half
    assert (result.wins_a, result.wins_b, result.ties, result.n) == (0, 0, 6, 6)
    assert result.bias_rate == 1.0
    assert result.win_rate == 0.5
    z2 = stats.norm.ppf(0.975) ** 2
    half_width = math.sqrt(z2) / (1 + z2 / 6) * math.sqrt(0.25 / 6 + z2 / (4 * 36))
    assert (result.ci_low, result.ci_high) == pytest.approx((0.5 - half_width, 0.5 + half_width))


def test_a_consistent_judge_gives_the_win_rate_with_the_t_interval_of_its_rows(lab, capitals):
    # Given a judge preferring the longer answer in either position
    pl.mock_model("longer", prefers_longer)
    expected = longer_wins(outputs_of(capitals, LONG_VARIANT), outputs_of(capitals, SHORT_VARIANT))

    # When long is compared with short, named as a person would: by model
    result = capitals.pairwise("mock:long", "mock:short", judge=pl.evals.pairwise("Longer wins", model="mock:longer"))

    # Then the win rate and its interval are the mean and the one-sample t interval of the per-row scores
    reference = stats.ttest_1samp(expected, 0.5).confidence_interval(0.95)
    assert result.a == LONG_VARIANT and result.bias_rate == 0.0
    assert result.win_rate == pytest.approx(expected.mean())
    assert (result.ci_low, result.ci_high) == pytest.approx((max(reference.low, 0), min(reference.high, 1)))
    assert (result.wins_a, result.wins_b, result.ties) == (3, 2, 1)


def test_verdicts_are_stored_and_a_rerun_answers_from_the_cache(lab, capitals):
    # Given a judged comparison
    judge_model = pl.mock_model("longer", prefers_longer)
    judge = pl.evals.pairwise("Longer wins", model="mock:longer")
    first = capitals.pairwise(SHORT_VARIANT, LONG_VARIANT, judge=judge)
    calls = judge_model.calls

    # When it is asked again, the other way round
    again = capitals.pairwise(LONG_VARIANT, SHORT_VARIANT, judge=judge)

    # Then no new call is made (the first time: two orders of six rows, one call for Italy where both
    # outputs are "?"), the stored verdicts are replaced, not added to, and the figures mirror
    assert calls == 11 and judge_model.calls == calls
    stored = lab.sql("select judge, a_first, b_first, winner_run_id, cost from pairwise_verdict")
    assert len(stored) == 6 and set(stored["judge"]) == {"pairwise"} and set(stored["cost"]) == {0.0}
    assert again.win_rate == pytest.approx(1 - first.win_rate)
    verdicts = capitals.verdicts
    assert verdicts.loc[verdicts["row_index"] == 0, "winner"].tolist() == [LONG_VARIANT]


def test_people_s_latest_pick_per_row_gives_the_win_rate_without_a_judge(lab, capitals):
    # Given picks between short and long on three rows, France picked twice (the latest counts)
    runs = capitals.runs.set_index(["variant", "row_index"])["run_id"]
    short, long = runs[SHORT_VARIANT], runs[LONG_VARIANT]
    capitals.prefer(short[0], long[0], short[0])
    capitals.prefer(long[0], short[0], long[0])
    capitals.prefer(short[1], long[1], short[1])
    capitals.prefer(long[2], short[2], None)

    # When the win rate of long over short is asked without a judge
    result = capitals.pairwise("mock:long", "mock:short")

    # Then it counts one win, one loss and one tie over three rows, with no position bias to report
    reference = stats.ttest_1samp([1.0, 0.0, 0.5], 0.5).confidence_interval(0.95)
    assert (result.wins_a, result.wins_b, result.ties, result.n) == (1, 1, 1, 3)
    assert result.win_rate == pytest.approx(0.5)
    assert (result.ci_low, result.ci_high) == pytest.approx((max(reference.low, 0), min(reference.high, 1)))
    assert math.isnan(result.bias_rate) and result.judge is None


def test_no_pick_yet_is_a_clear_error(lab, capitals):
    # Given no preference and no judge / When a win rate is asked / Then one line says there is nothing to count
    with pytest.raises(errors.InvalidData, match="No comparison"):
        capitals.pairwise(SHORT_VARIANT, LONG_VARIANT)


def test_the_pairwise_spec_builds_a_judge_that_is_refused_as_a_run_evaluator(lab):
    # Given the spec a person types
    spec = 'pairwise:"The more helpful answer wins."'
    lab.templates.save("capital", "What is the capital of {{ country }}?", model="mock:echo")
    # When it is parsed, and given to a run as an evaluator
    judge = pl.evals.parse_spec(spec)
    with pytest.raises(errors.InvalidEvaluator, match=r"exp\.pairwise"):
        lab.run("capital", QUESTIONS, evaluators=['pairwise:"Better?"'], progress=False)
    # Then it is a pairwise judge with that rubric, and the run refuses it before running anything
    assert isinstance(judge, PairwiseJudge) and judge.rubric == "The more helpful answer wins."
    assert lab.sql("select count(*) as n from run")["n"].iloc[0] == 0


def test_a_plain_judge_is_refused_where_a_pairwise_one_is_needed(lab, capitals):
    # Given a single-output judge / When it is given to pairwise / Then the error names the right kind
    with pytest.raises(errors.InvalidEvaluator, match="not a pairwise judge"):
        capitals.pairwise(SHORT_VARIANT, LONG_VARIANT, judge=pl.evals.judge("Good?", model="mock:echo"))


@pytest.mark.parametrize(
    ("answer", "pick"),
    [
        ('{"winner": "B", "reason": "clearer"}', SECOND),
        ('Sure: {"winner": "tie"}', TIE),
        ("A. The first answer is right.", FIRST),
        ("winner: b", SECOND),
    ],
)
def test_the_judge_s_answer_is_read_as_a_pick(answer, pick):
    # Given a pairwise judge / When its answer is read / Then the pick is found
    assert pl.evals.pairwise("Better?").parse(answer).pick == pick


def test_an_unreadable_answer_is_an_error_and_not_cached():
    # Given an answer without a winner / When read / Then it is an error the cache would not keep
    parsed = pl.evals.pairwise("Better?").parse("I cannot decide between them")
    assert parsed.pick is None and "could not read a winner" in parsed.error


def test_a_verdict_counts_only_when_both_orders_agree():
    # Given the pick with a shown first and the pick with b shown first
    picks = [(FIRST, SECOND), (SECOND, FIRST), (FIRST, FIRST), (TIE, SECOND), (TIE, TIE)]
    # When each pair of picks becomes a verdict
    verdicts = [verdict(with_a_first, with_b_first) for with_a_first, with_b_first in picks]
    # Then a wins only when chosen in both positions; any disagreement is a tie
    assert verdicts == ["a", "b", TIE, TIE, TIE]


def comparisons_frame(outcomes: list[tuple[int, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(outcomes, columns=["row_index", "a", "b", "outcome"])


def scipy_strengths(wins: np.ndarray) -> np.ndarray:
    """Bradley–Terry by minimising the negative log-likelihood with scipy (θ_0 fixed at 0), centred."""
    wins = wins + VIRTUAL_TIE * (1 - np.eye(len(wins)))

    def negative_log_likelihood(free: np.ndarray) -> float:
        theta = np.concatenate([[0.0], free])
        return -float((wins * special.log_expit(theta[:, None] - theta[None, :])).sum())

    found = optimize.minimize(negative_log_likelihood, np.zeros(len(wins) - 1), method="BFGS", tol=1e-12)
    theta = np.concatenate([[0.0], found.x])
    return theta - theta.mean()


def test_two_variants_strengths_are_the_log_odds_of_their_wins_with_the_virtual_tie():
    # Given x beating y on three rows of four
    comparisons = comparisons_frame([(0, "x", "y", "a"), (1, "x", "y", "a"), (2, "x", "y", "a"), (3, "x", "y", "b")])

    # When ranked
    table = bradley_terry(comparisons, ["x", "y"], seed=0)

    # Then the strengths differ by log(3.5 / 1.5): three wins and one loss plus half a virtual win each way
    gap = table.loc["x", "strength"] - table.loc["y", "strength"]
    assert gap == pytest.approx(math.log(3.5 / 1.5))
    assert table.loc["x", ["rank", "wins", "losses", "ties", "comparisons"]].tolist() == [1, 3, 1, 0, 4]


def simulated_comparisons(strengths: dict[str, float], rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = list(strengths)
    outcomes = []
    for row in range(rows):
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                p = special.expit(strengths[a] - strengths[b])
                draw = rng.uniform()
                outcomes.append((row, a, b, "a" if draw < 0.9 * p else "tie" if draw < 0.9 * p + 0.1 else "b"))
    return comparisons_frame(outcomes)


def test_strengths_match_a_maximum_likelihood_fit_by_scipy():
    # Given four variants compared on every row
    comparisons = simulated_comparisons({"w": 1.0, "x": 0.3, "y": 0.0, "z": -0.8}, rows=60, seed=3)
    names = ["w", "x", "y", "z"]
    wins = np.zeros((4, 4))
    for _, a, b, outcome in comparisons.itertuples(index=False):
        score = {"a": 1.0, "tie": 0.5, "b": 0.0}[outcome]
        wins[names.index(a), names.index(b)] += score
        wins[names.index(b), names.index(a)] += 1 - score

    # When fitted / Then the strengths agree with scipy's optimiser, strongest first
    assert fit_strengths(wins) == pytest.approx(scipy_strengths(wins), abs=1e-6)
    table = bradley_terry(comparisons, names, seed=1)
    assert table["strength"].to_numpy() == pytest.approx(np.sort(scipy_strengths(wins))[::-1], abs=1e-6)
    assert table.index[0] == "w"


def fisher_standard_errors(wins: np.ndarray) -> np.ndarray:
    """Standard errors of the centred strengths from scipy's numerical Hessian of the likelihood in
    the free parameters (θ_0 = 0), carried to the centred parameters."""
    k = len(wins)
    total = wins + VIRTUAL_TIE * (1 - np.eye(k))

    def negative_log_likelihood(free: np.ndarray) -> float:
        theta = np.concatenate([[0.0], free])
        return -float((total * special.log_expit(theta[:, None] - theta[None, :])).sum())

    found = optimize.minimize(negative_log_likelihood, np.zeros(k - 1), method="BFGS", tol=1e-12)
    step = 1e-4
    hessian = np.array(
        [
            [
                (
                    negative_log_likelihood(found.x + step * (np.eye(k - 1)[i] + np.eye(k - 1)[j]))
                    - negative_log_likelihood(found.x + step * (np.eye(k - 1)[i] - np.eye(k - 1)[j]))
                    - negative_log_likelihood(found.x - step * (np.eye(k - 1)[i] - np.eye(k - 1)[j]))
                    + negative_log_likelihood(found.x - step * (np.eye(k - 1)[i] + np.eye(k - 1)[j]))
                )
                / (4 * step**2)
                for j in range(k - 1)
            ]
            for i in range(k - 1)
        ]
    )
    centring = np.eye(k)[:, 1:] - 1 / k
    covariance = centring @ np.linalg.inv(hessian) @ centring.T
    return np.sqrt(np.diag(covariance))


def test_bootstrap_intervals_agree_with_the_fisher_information_on_many_rows():
    # Given three variants compared on 400 rows
    names = ["x", "y", "z"]
    comparisons = simulated_comparisons({"x": 0.6, "y": 0.0, "z": -0.4}, rows=400, seed=8)
    wins = np.zeros((3, 3))
    for _, a, b, outcome in comparisons.itertuples(index=False):
        score = {"a": 1.0, "tie": 0.5, "b": 0.0}[outcome]
        wins[names.index(a), names.index(b)] += score
        wins[names.index(b), names.index(a)] += 1 - score

    # When ranked with bootstrap intervals
    table = bradley_terry(comparisons, names, seed=5).loc[names]

    # Then each interval is about ±1.96 Fisher standard errors wide (within 15 %) and holds the estimate
    half_widths = (table["ci_high"] - table["ci_low"]).to_numpy() / 2
    assert half_widths == pytest.approx(stats.norm.ppf(0.975) * fisher_standard_errors(wins), rel=0.15)
    assert ((table["ci_low"] < table["strength"]) & (table["strength"] < table["ci_high"])).all()


def test_a_ranking_by_a_judge_orders_variants_and_reports_its_bias(lab, capitals):
    # Given a judge preferring the longer answer
    pl.mock_model("longer", prefers_longer)

    # When the three variants are ranked
    table = capitals.ranking(judge=pl.evals.pairwise("Longer wins", model="mock:longer"), seed=0)

    # Then long (usually longest) ranks first, every pair was judged on every row, and no bias showed
    assert table.index[0] == LONG_VARIANT
    assert table["comparisons"].tolist() == [12, 12, 12]
    assert table.attrs["bias_rate"] == 0.0 and table.attrs["judge"] == "pairwise"
    assert lab.sql("select count(*) as n from pairwise_verdict")["n"].iloc[0] == 18


def test_a_ranking_of_two_variants_points_to_pairwise(lab):
    # Given an experiment with two variants
    pl.mock_model("short", SHORT)
    lab.templates.save("capital", "What is the capital of {{ country }}?", model="mock:short")
    experiment = lab.compare(["capital"], QUESTIONS, models=["mock:short", "mock:echo"], progress=False)
    # When a ranking is asked / Then the error says to use pairwise
    with pytest.raises(errors.InvalidData, match=r"three or more variants; for two, use exp\.pairwise"):
        experiment.ranking()


def test_a_ranking_without_a_judge_uses_people_s_latest_picks(lab, capitals):
    # Given picks among the three variants on two rows, one of them changed
    runs = capitals.runs.set_index(["variant", "row_index"])["run_id"]

    def run(variant: str, row: int) -> str:
        return runs[(variant, row)]

    for row in (0, 1):
        capitals.prefer(run(SHORT_VARIANT, row), run(LONG_VARIANT, row), run(SHORT_VARIANT, row))
        capitals.prefer(run(LONG_VARIANT, row), run(MID_VARIANT, row), run(LONG_VARIANT, row))
    capitals.prefer(run(MID_VARIANT, 0), run(SHORT_VARIANT, 0), None)
    capitals.prefer(run(SHORT_VARIANT, 0), run(MID_VARIANT, 0), run(SHORT_VARIANT, 0))

    # When ranked without a judge
    table = capitals.ranking(seed=0)

    # Then short beat everyone, long beat mid, and the strengths are the likelihood's maximum
    wins = np.array([[0, 2, 1], [0, 0, 2], [0, 0, 0]], dtype=float)
    expected = pd.Series(scipy_strengths(wins), index=[SHORT_VARIANT, LONG_VARIANT, MID_VARIANT])
    assert table.index.tolist() == [SHORT_VARIANT, LONG_VARIANT, MID_VARIANT]
    assert table["strength"].to_numpy() == pytest.approx(expected.to_numpy(), abs=1e-6)
    assert table["wins"].tolist() == [3, 2, 0] and table["comparisons"].tolist() == [3, 4, 3]
    assert math.isnan(table.attrs["bias_rate"]) and table.attrs["judge"] is None


def test_a_judge_whose_answers_cannot_be_read_says_why_and_its_answers_are_not_cached(lab, capitals):
    # Given a judge model that never names a winner
    judge_model = pl.mock_model("rambling", "Both answers have merit.")
    judge = pl.evals.pairwise("Better?", model="mock:rambling")

    # When a win rate is asked twice / Then the error quotes the answer, and the second time asks again
    with pytest.raises(errors.InvalidData, match="could not read a winner .*Both answers have merit"):
        capitals.pairwise(SHORT_VARIANT, LONG_VARIANT, judge=judge)
    calls = judge_model.calls
    with pytest.raises(errors.InvalidData):
        capitals.pairwise(SHORT_VARIANT, LONG_VARIANT, judge=judge)
    assert judge_model.calls == 2 * calls
    assert lab.sql("select count(*) as n from pairwise_verdict where error is not null")["n"].iloc[0] == 6
