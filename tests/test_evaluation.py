"""Deciding between variants: scores stored per run, ratings, summaries and paired comparisons
whose numbers match an independent computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import promptlab_nb as pl
from promptlab_nb.core import errors

QUESTIONS = pd.DataFrame(
    {
        "country": ["France", "Japan", "Peru", "Kenya", "Chile", "Italy", "Spain", "Egypt"],
        "expected": ["Paris", "Tokyo", "Lima", "Nairobi", "Santiago", "Rome", "Madrid", "Cairo"],
        "topic": ["eu", "asia", "sa", "af", "sa", "eu", "eu", "af"],
    }
)
STRONG = {
    "france": "Paris",
    "japan": "Tokyo",
    "peru": "Lima",
    "kenya": "Nairobi",
    "chile": "Santiago",
    "italy": "Rome",
    "spain": "Madrid",
    "*": "Alexandria",
}
WEAK = {"france": "Paris", "japan": "Kyoto", "peru": "Lima", "kenya": "Mombasa", "*": "no idea"}
STRONG_VARIANT, WEAK_VARIANT = "capital@1 | mock:strong", "capital@1 | mock:weak"


@pytest.fixture
def capitals(lab):
    pl.mock_model("strong", STRONG)
    pl.mock_model("weak", WEAK)
    lab.templates.save("capital", "What is the capital of {{ country }}?")
    return lab.compare(
        ["capital"],
        QUESTIONS,
        models=["mock:strong", "mock:weak"],
        repeats=2,
        evaluators=["equals:expected", pl.evals.contains("a")],
        progress=False,
    )


def per_row(runs: pd.DataFrame, variant: str, column: str) -> pd.Series:
    return runs[runs["variant"] == variant].groupby("row_index")[column].mean()


def test_run_time_evaluators_are_stored_as_scores_and_appear_in_runs(lab, capitals):
    runs = capitals.runs
    assert {"equals:expected", "contains:a"} <= set(runs.columns)
    strong = runs[runs["variant"] == STRONG_VARIANT].set_index("country")
    assert strong.loc["Egypt", "equals:expected"].tolist() == [0.0, 0.0]
    assert strong.loc["France", "equals:expected"].tolist() == [1.0, 1.0]
    stored = lab.sql("select count(*) as n from scores")["n"].iloc[0]
    assert stored == len(runs) * 2


def test_summary_matches_an_independent_computation(lab, capitals):
    # Given the runs, computed independently: repeats averaged per row, then mean and t interval
    runs = capitals.runs
    expected = per_row(runs, STRONG_VARIANT, "equals:expected")
    mean, sem = expected.mean(), stats.sem(expected)
    low, high = stats.t.interval(0.95, len(expected) - 1, loc=mean, scale=sem)
    low, high = max(low, 0.0), min(high, 1.0)
    # When the user asks for the summary
    summary = capitals.summary()
    # Then the numbers agree
    row = summary.loc[STRONG_VARIANT]
    assert row["equals:expected"] == pytest.approx(mean)
    assert (row["equals:expected ci_low"], row["equals:expected ci_high"]) == pytest.approx((low, high))
    assert row["runs"] == 16 and row["error_rate"] == 0
    assert summary.loc[STRONG_VARIANT, "equals:expected vs best"] == "best"


def test_paired_comparison_matches_scipy_paired_t_test(lab, capitals):
    runs = capitals.runs
    strong = per_row(runs, STRONG_VARIANT, "equals:expected")
    weak = per_row(runs, WEAK_VARIANT, "equals:expected")
    reference = stats.ttest_rel(strong, weak)
    comparison = capitals.compare_variants(STRONG_VARIANT, WEAK_VARIANT, "equals:expected")
    assert comparison.mean_diff == pytest.approx((strong - weak).mean())
    assert comparison.p_value == pytest.approx(reference.pvalue)
    assert (comparison.wins_a, comparison.wins_b, comparison.ties) == (5, 0, 3)
    assert comparison.n_pairs == 8


def test_clustered_summary_widens_the_interval_with_the_cluster_formula(lab, capitals):
    runs = capitals.runs
    rows = (
        runs[runs["variant"] == STRONG_VARIANT]
        .groupby("row_index")
        .agg(value=("equals:expected", "mean"), topic=("topic", "first"))
    )
    residuals = rows["value"] - rows["value"].mean()
    groups = rows.assign(residual=residuals).groupby("topic")["residual"].sum()
    clusters, n = len(groups), len(rows)
    clustered_se = np.sqrt(clusters / (clusters - 1) * (groups**2).sum() / n**2)
    half_width = stats.t.ppf(0.975, clusters - 1) * clustered_se
    summary = capitals.summary(cluster="topic").loc[STRONG_VARIANT]
    assert summary["equals:expected"] - summary["equals:expected ci_low"] == pytest.approx(half_width)
    assert summary["equals:expected ci_high"] == pytest.approx(min(summary["equals:expected"] + half_width, 1.0))


def test_failed_runs_score_zero_in_the_summary(lab):
    model = pl.mock_model("sometimes", "Paris")
    model.errors.extend([errors.BadRequest("refused", provider="mock")])
    lab.templates.save("capital", "What is the capital of {{ country }}?", model="mock:sometimes")
    experiment = lab.run("capital", QUESTIONS.head(2), evaluators=["contains:Paris"], concurrency=1, progress=False)
    summary = experiment.summary()
    assert summary["error_rate"].iloc[0] == 0.5
    assert summary["contains:Paris"].iloc[0] == 0.5


def test_evaluate_later_scores_stored_runs_without_calling_the_model(lab, capitals):
    calls = {"strong": pl.mock_model("strong", STRONG)}
    capitals.evaluate("regex:^[A-Z][a-z]+$", progress=False)
    assert calls["strong"].calls == 0
    runs = capitals.runs
    assert runs.set_index("output").loc["no idea", "regex:^[A-Z][a-z]+$"].tolist() == [0.0] * 8
    capitals.evaluate("regex:^[A-Z][a-z]+$", progress=False)
    assert lab.sql("select count(*) as n from scores where evaluator = 'regex:^[A-Z][a-z]+$'")["n"].iloc[0] == 32


def test_a_judge_scores_with_a_reason_is_cached_and_counts_its_cost(lab, capitals):
    judge_model = pl.mock_model("judge", '{"score": 0.75, "reason": "names a city"}')
    capitals.evaluate(pl.evals.judge("Does the answer name the capital?", model="mock:judge"), progress=False)
    runs = capitals.runs
    assert set(runs["judge"]) == {0.75}
    assert set(runs["judge reason"]) == {"names a city"}
    first_calls = judge_model.calls
    capitals.evaluate(pl.evals.judge("Does the answer name the capital?", model="mock:judge"), progress=False)
    assert judge_model.calls == first_calls
    assert lab.sql("select sum(cost) as c from score where evaluator = 'judge'")["c"].iloc[0] == 0


def test_an_evaluator_that_raises_records_the_error_for_that_run(lab, capitals):
    def fussy(output, row):
        if row["country"] == "Japan":
            raise ValueError("cannot judge Japan")
        return True

    capitals.evaluate(pl.evals.custom(fussy, name="fussy"), progress=False)
    runs = capitals.runs
    japan = runs[runs["country"] == "Japan"]
    assert japan["fussy"].isna().all()
    assert japan["fussy error"].str.contains("cannot judge Japan").all()
    assert (runs[runs["country"] != "Japan"]["fussy"] == 1.0).all()


def test_bad_evaluators_are_refused_before_any_run(lab):
    lab.templates.save("capital", "What is the capital of {{ country }}?")
    with pytest.raises(errors.InvalidEvaluator, match=r"'answer'"):
        lab.run("capital", QUESTIONS, evaluators=["equals:answer"], progress=False)
    with pytest.raises(errors.InvalidEvaluator):
        lab.run("capital", QUESTIONS, evaluators=["regex:(unclosed"], progress=False)
    with pytest.raises(errors.InvalidEvaluator, match=r"distinct names"):
        lab.run("capital", QUESTIONS, evaluators=["contains:a", "contains:a"], progress=False)
    assert lab.experiments().empty


def test_ratings_are_stored_and_shown_like_a_score(lab, capitals):
    runs = capitals.runs
    first, second = runs["run_id"].iloc[0], runs["run_id"].iloc[1]
    capitals.rate(first, +1, "exactly right")
    capitals.rate(second, -1)
    capitals.rate(second, +1, "changed my mind")
    rated = capitals.runs.set_index("run_id")
    assert rated.loc[first, ["rating", "rating_note"]].tolist() == [1, "exactly right"]
    assert rated.loc[second, ["rating", "rating_note"]].tolist() == [1, "changed my mind"]
    assert "rating" in capitals.summary().columns
    with pytest.raises(errors.InvalidData, match=r"\+1"):
        capitals.rate(first, 5)
    with pytest.raises(errors.RunNotFound):
        capitals.rate("no-such-run", 1)


def test_table_puts_variants_side_by_side(lab, capitals):
    outputs = capitals.table()
    assert list(outputs.columns) == ["country", "expected", "topic", STRONG_VARIANT, WEAK_VARIANT]
    assert outputs.loc[1, [STRONG_VARIANT, WEAK_VARIANT]].tolist() == ["Tokyo", "Kyoto"]
    scores = capitals.table("equals:expected")
    assert scores.loc[1, [STRONG_VARIANT, WEAK_VARIANT]].tolist() == [1.0, 0.0]


def test_sql_views_answer_ad_hoc_questions(lab, capitals):
    by_variant = lab.sql(
        "select variant, avg(value) as accuracy from scores where evaluator = 'equals:expected' group by 1 order by 1"
    )
    assert by_variant["accuracy"].round(4).tolist() == [0.875, 0.25]
    overview = lab.sql("select experiment, variants, runs, errors from experiments")
    assert overview.iloc[0].tolist() == [capitals.name, 2, 32, 0]


def test_sample_size_answers_how_many_rows_are_needed():
    assert pl.evals.sample_size(0.5, sd=1.0, paired=False) == 63


def test_plot_draws_error_bars(lab, capitals):
    pytest.importorskip("matplotlib")
    figure = capitals.plot("equals:expected")
    assert len(figure.axes[0].patches) == 2


def test_intervals_of_pass_rates_stay_within_zero_and_one(lab):
    # Given three rows that all pass one check, and one row of three that passes another
    pl.mock_model("mostly-right", {"france": "Paris", "japan": "Tokyo", "*": "Lima"})
    lab.templates.save("capital", "What is the capital of {{ country }}?", model="mock:mostly-right")
    # When summarised
    summary = lab.run("capital", QUESTIONS.head(3), evaluators=["length:1-20"], progress=False).summary()
    # Then all passing gets the Wilson interval of 3 out of 3, not the zero-width [1, 1]
    z2 = stats.norm.ppf(0.975) ** 2
    assert summary["length:1-20"].iloc[0] == 1.0
    assert (summary["length:1-20 ci_low"].iloc[0], summary["length:1-20 ci_high"].iloc[0]) == pytest.approx(
        (3 / (3 + z2), 1.0)
    )
    low_sample = lab.run("capital", QUESTIONS.head(3), evaluators=["contains:Tokyo"], progress=False).summary()
    assert low_sample["contains:Tokyo ci_low"].iloc[0] == 0.0
    assert 0.0 < low_sample["contains:Tokyo ci_high"].iloc[0] <= 1.0


THIRD = {"france": "Paris", "japan": "Tokyo", "peru": "Lima", "*": "no idea"}
THIRD_VARIANT = "capital@1 | mock:third"


def holm_by_hand(p_values: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjustment, written out: the i-th smallest of m p-values times (m - i)."""
    ordered = sorted(p_values, key=p_values.get)
    adjusted, running = {}, 0.0
    for rank, variant in enumerate(ordered):
        running = max(running, min(1.0, (len(ordered) - rank) * p_values[variant]))
        adjusted[variant] = running
    return adjusted


def test_the_vs_best_column_is_holm_adjusted_and_says_so(lab, capitals):
    # Given a third variant beside the strong and the weak one
    pl.mock_model("third", THIRD)
    experiment = lab.compare(
        ["capital"],
        QUESTIONS,
        models=["mock:strong", "mock:weak", "mock:third"],
        evaluators=["equals:expected"],
        progress=False,
    )
    runs = experiment.runs
    best = per_row(runs, STRONG_VARIANT, "equals:expected")
    raw = {
        variant: stats.ttest_rel(per_row(runs, variant, "equals:expected"), best).pvalue
        for variant in (WEAK_VARIANT, THIRD_VARIANT)
    }

    # When summarised
    summary = experiment.summary()

    # Then each mark carries its Holm-adjusted paired t-test p-value, and the summary notes the correction
    marks = summary["equals:expected vs best"]
    for variant, adjusted in holm_by_hand(raw).items():
        verdict = "worse" if adjusted < 0.05 else "not distinguishable"
        assert marks[variant] == f"{verdict} (Holm p={adjusted:.3g})"
    assert marks[STRONG_VARIANT] == "best"
    assert any("Holm" in note for note in summary.attrs["notes"])


def test_a_bootstrap_summary_is_reproducible_and_close_to_scipy(lab, capitals):
    # Given the per-row scores of the strong variant
    runs = capitals.runs
    expected = per_row(runs, STRONG_VARIANT, "equals:expected").to_numpy()

    # When summarised with the bootstrap twice with one seed
    first = capitals.summary(method="bootstrap", seed=11)
    again = capitals.summary(method="bootstrap", seed=11)

    # Then both agree, and the interval is near scipy's percentile bootstrap of the per-row means
    pd.testing.assert_frame_equal(first, again)
    reference = stats.bootstrap((expected,), np.mean, method="percentile", n_resamples=20_000, random_state=0)
    low, high = first.loc[STRONG_VARIANT, ["equals:expected ci_low", "equals:expected ci_high"]]
    assert low == pytest.approx(reference.confidence_interval.low, abs=0.07)
    assert high == pytest.approx(min(reference.confidence_interval.high, 1.0), abs=0.07)


def test_compare_variants_with_the_bootstrap_resamples_pairs_of_rows(lab, capitals):
    # Given the strong and weak variants on the same rows
    runs = capitals.runs
    differences = per_row(runs, STRONG_VARIANT, "equals:expected") - per_row(runs, WEAK_VARIANT, "equals:expected")

    # When compared with the bootstrap
    comparison = capitals.compare_variants("mock:strong", "mock:weak", "equals:expected", method="bootstrap", seed=5)

    # Then the interval is close to scipy's percentile bootstrap of the per-row differences
    reference = stats.bootstrap(
        (differences.to_numpy(),), np.mean, method="percentile", n_resamples=20_000, random_state=0
    )
    assert comparison.mean_diff == pytest.approx(differences.mean())
    assert comparison.ci_low == pytest.approx(reference.confidence_interval.low, abs=0.07)
    assert comparison.ci_high == pytest.approx(reference.confidence_interval.high, abs=0.07)
    assert comparison.n_pairs == 8
