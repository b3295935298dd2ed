"""Error bars on evaluation scores: per-row means, standard errors, paired comparisons, power."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from promptlab_nb.core.errors import InvalidData
from promptlab_nb.evaluation.quantiles import normal_quantile, two_sided_t
from promptlab_nb.evaluation.statistics import (
    Estimate,
    holm_adjusted,
    mean_ci,
    paired_difference,
    per_row_means,
    proportion_interval,
    sample_size,
    summarize,
    wilson_interval,
)

NAN = float("nan")


def long_scores(per_variant: dict[str, list[list[float]]], clusters: list[str] | None = None) -> pd.DataFrame:
    """The runner's long format from {variant: [[repeat values of row 0], [row 1], ...]}."""
    records = [
        {"variant": variant, "row_index": row, "repeat": repeat, "value": value}
        | ({"cluster": clusters[row]} if clusters else {})
        for variant, rows in per_variant.items()
        for row, repeats in enumerate(rows)
        for repeat, value in enumerate(repeats)
    ]
    return pd.DataFrame.from_records(records)


def assert_estimate(actual: Estimate, *, mean: float, se: float, ci: tuple[float, float], n: int) -> None:
    expected = Estimate(mean, se, ci[0], ci[1], n)
    for field in ("mean", "se", "ci_low", "ci_high"):
        got, want = getattr(actual, field), getattr(expected, field)
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, rel=1e-9, abs=1e-12), (
            f"{field}: got {got}, expected {want} in {actual}"
        )
    assert actual.n == n, f"n: got {actual.n}, expected {n}"


def assert_same_estimate(actual: Estimate, expected: Estimate) -> None:
    assert_estimate(actual, mean=expected.mean, se=expected.se, ci=(expected.ci_low, expected.ci_high), n=expected.n)


def normal_power(n: int, delta: float, variance: float, alpha: float = 0.05) -> float:
    return float(stats.norm.cdf(abs(delta) * math.sqrt(n / variance) - stats.norm.ppf(1 - alpha / 2)))


class TestPerRowMeans:
    def test_repeats_are_averaged_and_missing_values_ignored(self):
        # Given two rows scored three times, one score missing, and a row with no score at all
        scores = long_scores({"a": [[1.0, 0.0, NAN], [0.5, 1.0, 0.0], [NAN, NAN, NAN]]})

        # When repeats are averaged per row
        rows = per_row_means(scores)

        # Then each scored row has the mean of its present values and the unscored row is gone
        assert rows[["variant", "row_index"]].values.tolist() == [["a", 0], ["a", 1]]
        assert rows["value"].tolist() == pytest.approx([0.5, 0.5])

    def test_none_and_booleans_are_read_as_missing_and_zero_one(self):
        # Given scores stored as booleans with a missing one
        scores = pd.DataFrame(
            {"variant": ["a"] * 3, "row_index": [0, 0, 1], "repeat": [0, 1, 0], "value": [True, None, False]}
        )

        # When repeats are averaged
        rows = per_row_means(scores)

        # Then True counts 1, False 0 and None is ignored
        assert rows["value"].tolist() == [1.0, 0.0]

    def test_the_cluster_label_of_each_row_is_kept(self):
        # Given rows labelled with a topic
        scores = long_scores({"a": [[1.0, 0.0], [1.0, 1.0]]}, clusters=["geo", "math"])

        # When repeats are averaged
        rows = per_row_means(scores, cluster="cluster")

        # Then every row still carries its topic
        assert rows["cluster"].tolist() == ["geo", "math"]

    def test_a_missing_column_is_named_with_the_columns_that_exist(self):
        # Given a table without scores
        table = pd.DataFrame({"variant": ["a"], "row_index": [0]})

        # When / Then averaging is refused with the columns listed
        with pytest.raises(InvalidData, match=r"lacks the column.*value.*it has: variant, row_index"):
            per_row_means(table)


class TestMeanCi:
    def test_textbook_sample_gives_the_clt_standard_error_and_a_t_interval(self):
        # Given the textbook sample 2, 4, 4, 4, 5, 5, 7, 9 (mean 5, sample variance 32/7)
        values = [2, 4, 4, 4, 5, 5, 7, 9]

        # When its mean is estimated
        estimate = mean_ci(values)

        # Then the standard error is sqrt(32/7 / 8) and the interval is mean ± t(0.975, 7) · se
        se = math.sqrt(32 / 7 / 8)
        half_width = 2.364624251592785 * se
        assert_estimate(estimate, mean=5.0, se=se, ci=(5 - half_width, 5 + half_width), n=8)

    def test_the_interval_is_the_one_of_scipy_one_sample_t_test(self):
        # Given scores between 0 and 1
        values = np.random.default_rng(7).uniform(size=40)

        # When the mean is estimated at 90 % confidence
        estimate = mean_ci(values, confidence=0.90)

        # Then it matches scipy's one-sample t interval and standard error
        reference = stats.ttest_1samp(values, 0.0)
        interval = reference.confidence_interval(confidence_level=0.90)
        assert_estimate(estimate, mean=values.mean(), se=stats.sem(values), ci=(interval.low, interval.high), n=40)

    def test_one_value_has_no_standard_error(self):
        # Given a single scored row
        # When its mean is estimated
        estimate = mean_ci([0.7])

        # Then the mean is known, but the standard error and interval are NaN (not zero)
        assert_estimate(estimate, mean=0.7, se=NAN, ci=(NAN, NAN), n=1)

    def test_no_value_gives_nan_and_zero_rows(self):
        # Given only missing scores
        # When / Then nothing can be estimated
        assert_estimate(mean_ci([NAN, NAN]), mean=NAN, se=NAN, ci=(NAN, NAN), n=0)

    @pytest.mark.parametrize("outcome", [1.0, 0.0], ids=["all pass", "all fail"])
    def test_all_pass_or_all_fail_has_zero_standard_error(self, outcome):
        # Given ten rows with the same outcome
        # When the pass rate is estimated
        estimate = mean_ci([outcome] * 10)

        # Then the data show no variation: se 0 and a zero-width interval
        assert_estimate(estimate, mean=outcome, se=0.0, ci=(outcome, outcome), n=10)

    def test_missing_values_are_dropped_together_with_their_clusters(self):
        # Given scores with a missing one, clustered
        values = [1.0, NAN, 0.0, 1.0]
        clusters = ["a", "a", "b", "c"]

        # When the mean is estimated
        estimate = mean_ci(values, clusters)

        # Then it equals the estimate without the missing row
        assert_same_estimate(estimate, mean_ci([1.0, 0.0, 1.0], ["a", "b", "c"]))


class TestClusteredStandardError:
    def test_hand_computed_clustered_standard_error(self):
        # Given three topics of two rows each; rows within a topic disagree only in topic b and c
        values = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0]
        clusters = ["a", "a", "b", "b", "c", "c"]

        # When the clustered mean is estimated
        estimate = mean_ci(values, clusters)

        # Then se² = G/(G-1) · Σ_c (Σ residuals)² / n² = 3/2 · (0² + 1² + 1²) / 36, with t on G - 1 = 2 df
        se = math.sqrt(1.5 * 2 / 36)
        half_width = stats.t.ppf(0.975, 2) * se
        assert_estimate(estimate, mean=0.5, se=se, ci=(0.5 - half_width, 0.5 + half_width), n=6)

    def test_correlated_rows_widen_the_interval(self):
        # Given topics whose rows all pass or all fail together
        values = [1.0] * 5 + [0.0] * 5 + [1.0] * 5 + [0.0] * 5
        clusters = ["a"] * 5 + ["b"] * 5 + ["c"] * 5 + ["d"] * 5

        # When estimated with and without clusters
        plain, clustered = mean_ci(values), mean_ci(values, clusters)

        # Then the clustered standard error is larger (the data hold 4 independent topics, not 20 rows)
        assert clustered.se > 2 * plain.se

    def test_clusters_of_size_one_give_the_plain_standard_error(self):
        # Given every row in its own cluster
        values = np.random.default_rng(3).uniform(size=25)
        clusters = [f"row{i}" for i in range(25)]

        # When estimated with and without clusters
        # Then the G/(G-1) correction makes both identical
        assert_same_estimate(mean_ci(values, clusters), mean_ci(values))

    def test_rows_without_a_cluster_label_are_clusters_of_their_own(self):
        # Given two labelled rows of one cluster and two rows without a label
        values = [1.0, 0.0, 0.25, 0.75]
        labelled = ["a", "a", None, None]

        # When estimated
        # Then the unlabelled rows count as two separate clusters
        assert_same_estimate(mean_ci(values, labelled), mean_ci(values, ["a", "a", "x", "y"]))

    def test_one_cluster_has_no_standard_error(self):
        # Given all rows in one topic
        # When / Then no between-cluster variation can be measured
        estimate = mean_ci([1.0, 0.0, 1.0], ["a", "a", "a"])
        assert_estimate(estimate, mean=2 / 3, se=NAN, ci=(NAN, NAN), n=3)


class TestSummarize:
    def test_one_row_per_variant_in_order_of_appearance(self):
        # Given two variants, three rows, two repeats each, with one missing score
        scores = long_scores(
            {"terse": [[1.0, 1.0], [0.0, 1.0], [1.0, NAN]], "verbose": [[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]}
        )

        # When summarised
        table = summarize(scores)

        # Then each variant's line is the estimate over its per-row means
        assert table.index.tolist() == ["terse", "verbose"]
        assert table.columns.tolist() == ["n_rows", "mean", "se", "ci_low", "ci_high"]
        assert_variant_line(table, "terse", mean_ci([1.0, 0.5, 1.0]))
        assert_variant_line(table, "verbose", mean_ci([0.0, 0.5, 0.0]))

    def test_a_variant_without_any_score_is_listed_empty(self):
        # Given a variant whose runs all failed to be scored
        scores = long_scores({"ok": [[1.0], [0.0]], "broken": [[NAN], [NAN]]})

        # When summarised
        table = summarize(scores)

        # Then it is shown with zero rows and no statistics
        assert table.loc["broken", "n_rows"] == 0
        assert table.loc["broken", ["mean", "se", "ci_low", "ci_high"]].isna().all()

    def test_clustered_summary_uses_the_cluster_column(self):
        # Given rows labelled by topic
        topics = ["a", "a", "b", "b", "c", "c"]
        scores = long_scores({"v": [[1.0], [0.0], [1.0], [1.0], [0.0], [0.0]]}, clusters=topics)

        # When summarised by topic
        table = summarize(scores, cluster="cluster")

        # Then the standard error is the clustered one
        assert_variant_line(table, "v", mean_ci([1.0, 0.0, 1.0, 1.0, 0.0, 0.0], topics))


def assert_variant_line(table: pd.DataFrame, variant: str, expected: Estimate) -> None:
    line = table.loc[variant]
    actual = Estimate(line["mean"], line["se"], line["ci_low"], line["ci_high"], int(line["n_rows"]))
    assert_same_estimate(actual, expected)


class TestPairedDifference:
    def test_matches_scipy_paired_t_test_on_per_row_means(self):
        # Given two variants scored twice on the same 30 rows
        rng = np.random.default_rng(11)
        a, b = rng.uniform(size=(30, 2)), rng.uniform(size=(30, 2)) * 0.8
        scores = long_scores({"a": a.tolist(), "b": b.tolist()})

        # When a is compared with b
        comparison = paired_difference(scores, "a", "b")

        # Then difference, p-value and interval are those of ttest_rel on the per-row means
        reference = stats.ttest_rel(a.mean(axis=1), b.mean(axis=1))
        interval = reference.confidence_interval()
        differences = a.mean(axis=1) - b.mean(axis=1)
        assert comparison.mean_diff == pytest.approx(differences.mean())
        assert comparison.se == pytest.approx(stats.sem(differences))
        assert comparison.p_value == pytest.approx(reference.pvalue)
        assert (comparison.ci_low, comparison.ci_high) == pytest.approx((interval.low, interval.high))
        assert comparison.n_pairs == 30
        assert comparison.distinguishable == (reference.pvalue < 0.05)

    def test_only_rows_both_variants_have_are_paired_and_wins_are_counted(self):
        # Given a scored on rows 0-3 and b on rows 0-2 and 3 missing
        scores = long_scores({"a": [[1.0], [0.0], [1.0], [1.0]], "b": [[0.0], [0.0], [1.0], [NAN]]})

        # When compared
        comparison = paired_difference(scores, "a", "b")

        # Then three pairs count: a wins one, two are ties
        assert_counts(comparison, n_pairs=3, wins_a=1, wins_b=0, ties=2)
        assert comparison.mean_diff == pytest.approx(1 / 3)

    def test_identical_variants_are_not_distinguishable(self):
        # Given two variants with the same scores on every row
        scores = long_scores({"a": [[1.0], [0.0], [1.0]], "b": [[1.0], [0.0], [1.0]]})

        # When compared
        comparison = paired_difference(scores, "a", "b")

        # Then the difference is exactly zero with p = 1 and all ties
        assert (comparison.mean_diff, comparison.se, comparison.p_value) == (0.0, 0.0, 1.0)
        assert not comparison.distinguishable
        assert_counts(comparison, n_pairs=3, wins_a=0, wins_b=0, ties=3)

    def test_a_constant_gain_on_every_row_is_distinguishable(self):
        # Given b scoring 0.25 lower than a on every row
        scores = long_scores({"a": [[1.0], [0.5], [0.75]], "b": [[0.75], [0.25], [0.5]]})

        # When compared
        comparison = paired_difference(scores, "a", "b")

        # Then the difference has no spread: p = 0 and the interval excludes zero
        assert comparison.mean_diff == pytest.approx(0.25)
        assert comparison.p_value == 0.0
        assert comparison.distinguishable

    def test_clusters_of_size_one_give_the_unclustered_comparison(self):
        # Given each row in its own topic
        rng = np.random.default_rng(5)
        scores = long_scores(
            {"a": rng.uniform(size=(12, 1)).tolist(), "b": rng.uniform(size=(12, 1)).tolist()},
            clusters=[f"t{i}" for i in range(12)],
        )

        # When compared with and without clusters
        # Then both comparisons agree
        clustered, plain = paired_difference(scores, "a", "b", cluster="cluster"), paired_difference(scores, "a", "b")
        assert (clustered.se, clustered.p_value, clustered.ci_low) == pytest.approx(
            (plain.se, plain.p_value, plain.ci_low)
        )

    def test_clustered_comparison_uses_topics_as_units(self):
        # Given a gain concentrated in one of three topics
        topics = ["a", "a", "b", "b", "c", "c"]
        scores = long_scores(
            {"new": [[1.0], [1.0], [1.0], [0.0], [1.0], [0.0]], "old": [[0.0], [0.0], [1.0], [0.0], [1.0], [0.0]]},
            clusters=topics,
        )

        # When compared by topic
        comparison = paired_difference(scores, "new", "old", cluster="cluster")

        # Then the standard error is the clustered one of the differences, with 2 degrees of freedom
        expected = mean_ci([1.0, 1.0, 0.0, 0.0, 0.0, 0.0], topics)
        assert (comparison.se, comparison.ci_low) == pytest.approx((expected.se, expected.ci_low))
        assert comparison.p_value == pytest.approx(2 * stats.t.sf(expected.mean / expected.se, 2))

    def test_one_pair_has_no_p_value(self):
        # Given a single shared row
        scores = long_scores({"a": [[1.0]], "b": [[0.0]]})

        # When compared
        comparison = paired_difference(scores, "a", "b")

        # Then nothing about uncertainty is claimed
        assert math.isnan(comparison.se) and math.isnan(comparison.p_value)
        assert not comparison.distinguishable

    def test_an_unknown_variant_is_named_with_the_known_ones(self):
        # Given variants a and b
        scores = long_scores({"a": [[1.0]], "b": [[0.0]]})

        # When / Then comparing with c is refused, listing a and b
        with pytest.raises(InvalidData, match=r"'c'.*'a', 'b'"):
            paired_difference(scores, "a", "c")


def assert_counts(comparison, *, n_pairs: int, wins_a: int, wins_b: int, ties: int) -> None:
    actual = (comparison.n_pairs, comparison.wins_a, comparison.wins_b, comparison.ties)
    assert actual == (n_pairs, wins_a, wins_b, ties), f"(n_pairs, wins_a, wins_b, ties) = {actual}"


class TestSampleSize:
    def test_textbook_two_sample_value_for_half_a_standard_deviation(self):
        # Given a difference of 0.5 sd, alpha 0.05 two-sided, power 0.8, different rows per variant
        # When the rows are computed
        # Then it is the textbook 2 · (1.96 + 0.84)² / 0.5² = 62.8, rounded up to 63 per variant
        assert sample_size(0.5, sd=1.0, paired=False) == 63

    def test_textbook_value_for_pass_rates(self):
        # Given a pass rate of 60 % to be told from 80 %
        # When the rows are computed
        # Then it is (1.96 + 0.84)² · (0.6·0.4 + 0.8·0.2) / 0.2² = 78.5, rounded up to 79
        assert sample_size(0.2, p=0.6, paired=False) == 79

    def test_correlated_pairs_need_fewer_rows(self):
        # Given variants whose per-row scores correlate at 0.5 on shared rows
        # When the rows are computed
        # Then the variance of the difference halves: 7.85 · 1 / 0.25 = 31.4, rounded up to 32
        assert sample_size(0.5, sd=1.0, correlation=0.5) == 32
        assert sample_size(0.5, sd=1.0) == sample_size(0.5, sd=1.0, paired=False)

    @pytest.mark.parametrize("delta, sd, power", [(0.1, 0.3, 0.8), (0.05, 0.5, 0.9), (-0.2, 1.0, 0.8)])
    def test_the_answer_is_the_smallest_number_of_rows_reaching_the_power(self, delta, sd, power):
        # Given a difference, a spread and a target power
        # When the rows are computed
        n = sample_size(delta, sd=sd, power=power, paired=False)

        # Then n rows reach the power (normal approximation) and n - 1 do not
        variance = 2 * sd**2
        assert normal_power(n, delta, variance) >= power > normal_power(n - 1, delta, variance)

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"delta": 0.1}, "exactly one of sd"),
            ({"delta": 0.1, "sd": 1, "p": 0.5}, "exactly one of sd"),
            ({"delta": 0.0, "sd": 1}, "non-zero"),
            ({"delta": 0.3, "p": 0.9}, "between 0 and 1"),
            ({"delta": 0.1, "sd": 1, "paired": False, "correlation": 0.3}, "paired comparisons only"),
            ({"delta": 0.1, "sd": 1, "power": 1.2}, "alpha and power"),
        ],
    )
    def test_impossible_requests_are_refused_with_a_reason(self, kwargs, message):
        # Given / When / Then an impossible request says what is wrong
        with pytest.raises(InvalidData, match=message):
            sample_size(**kwargs)


class TestWilsonInterval:
    def test_all_fail_and_all_pass_give_textbook_bounds(self):
        # Given 0 and 10 passes out of 10
        # When the Wilson intervals are computed
        # Then the open bounds are z² / (n + z²) and n / (n + z²)
        z2 = stats.norm.ppf(0.975) ** 2
        assert wilson_interval(0, 10) == pytest.approx((0.0, z2 / (10 + z2)))
        assert wilson_interval(10, 10) == pytest.approx((10 / (10 + z2), 1.0))

    def test_newcombe_worked_example(self):
        # Given 81 passes out of 263 (Newcombe 1998, Statistics in Medicine 17:857, example (a))
        # When the Wilson interval is computed
        # Then it is 0.2553 to 0.3662
        low, high = wilson_interval(81, 263)
        assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)

    @pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
    @pytest.mark.parametrize(("passes", "n"), [(0, 1), (1, 1), (0, 7), (3, 7), (7, 7), (81, 263), (999, 1000)])
    def test_the_bounds_are_those_of_scipy_binomtest(self, passes, n, confidence):
        # Given a pass count and a confidence
        # When the Wilson interval is computed
        interval = wilson_interval(passes, n, confidence)
        # Then it is scipy's Wilson interval for the binomial test
        expected = stats.binomtest(passes, n).proportion_ci(confidence_level=confidence, method="wilson")
        assert interval == pytest.approx((expected.low, expected.high), rel=1e-12, abs=0)


class TestHolmAdjusted:
    def test_a_hand_computed_case(self):
        # Given three p-values in no particular order
        # When Holm-adjusted
        # Then the smallest is tripled, the next doubled, and the values are kept non-decreasing in rank
        assert holm_adjusted([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])

    def test_adjusted_values_are_capped_at_one_and_missing_ones_do_not_count(self):
        # Given two p-values and a comparison that could not be made
        adjusted = holm_adjusted([0.6, NAN, 0.02])

        # Then the missing one stays missing and m is 2
        assert adjusted[1] != adjusted[1]
        assert adjusted[[0, 2]].tolist() == pytest.approx([0.6, 0.04])
        assert holm_adjusted([0.7, 0.8]).tolist() == pytest.approx([1.0, 1.0])

    def test_one_comparison_is_left_as_it_is(self):
        assert holm_adjusted([0.037]).tolist() == pytest.approx([0.037])


CONFIDENCE_LEVELS = [0.1, 0.5, 0.68, 0.8, 0.9, 0.95, 0.975, 0.98, 0.99, 0.995, 0.999, 0.9999]
DEGREES_OF_FREEDOM = [*range(1, 301), *np.geomspace(301, 1_000_000, 40).astype(int).tolist()]


class TestQuantiles:
    def test_the_normal_quantile_is_scipys(self):
        # Given probabilities across the whole range, deep tails and the median included
        probabilities = np.concatenate(
            [np.linspace(1e-6, 1 - 1e-6, 20_001), np.geomspace(1e-300, 0.25, 500), 1 - np.geomspace(1e-16, 0.25, 500)]
        )
        # When their normal quantiles are computed
        quantiles = np.array([normal_quantile(p) for p in probabilities])
        # Then they are scipy's to within 1e-12 relative
        np.testing.assert_allclose(quantiles, special.ndtri(probabilities), rtol=1e-12, atol=0)

    def test_the_two_sided_t_quantile_is_scipys(self):
        # Given degrees of freedom from 1 to a million and confidence levels from 0.1 to 0.9999
        cases = [(level, dof) for level in CONFIDENCE_LEVELS for dof in DEGREES_OF_FREEDOM]
        # When the t quantiles of the two-sided intervals are computed
        quantiles = np.array([two_sided_t(level, dof) for level, dof in cases])
        # Then they are scipy's to within 1e-12 relative
        levels, dofs = np.array(cases).T
        np.testing.assert_allclose(quantiles, special.stdtrit(dofs, 0.5 + levels / 2), rtol=1e-12, atol=0)

    def test_an_interval_and_a_wilson_interval_do_not_import_scipy_special(self):
        # Given a new process
        script = (
            "import sys; from promptlab_nb.evaluation import statistics as s; "
            "s.mean_ci([0.0, 1.0, 1.0]); s.proportion_interval([1.0, 1.0]); s.wilson_interval(3, 7); "
            "print('scipy.special' in sys.modules)"
        )
        # When it computes a t interval and Wilson intervals
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        # Then scipy.special was not imported
        assert result.stdout.strip() == "False"


def skewed_scores(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(mean=0.0, sigma=1.0, size=size)


class TestBootstrap:
    def test_the_percentile_interval_agrees_with_scipy_bootstrap(self):
        # Given 200 skewed scores
        values = skewed_scores(200, seed=4)

        # When the bootstrap interval of the mean is computed
        estimate = mean_ci(values, method="bootstrap", seed=1)

        # Then it agrees with scipy's percentile bootstrap (different draws: within a few percent)
        reference = stats.bootstrap((values,), np.mean, method="percentile", n_resamples=20_000, random_state=2)
        width = reference.confidence_interval.high - reference.confidence_interval.low
        assert estimate.mean == pytest.approx(values.mean())
        assert estimate.ci_low == pytest.approx(reference.confidence_interval.low, abs=0.05 * width)
        assert estimate.ci_high == pytest.approx(reference.confidence_interval.high, abs=0.05 * width)
        assert estimate.se == pytest.approx(reference.standard_error, rel=0.08)

    def test_a_seed_gives_the_same_answer_and_another_seed_a_different_one(self):
        values = skewed_scores(50, seed=5)
        assert mean_ci(values, method="bootstrap", seed=3) == mean_ci(values, method="bootstrap", seed=3)
        assert mean_ci(values, method="bootstrap", seed=3) != mean_ci(values, method="bootstrap", seed=4)

    def test_a_skewed_sample_gets_an_asymmetric_interval(self):
        # Given right-skewed scores / When bootstrapped / Then the interval reaches further above the mean
        estimate = mean_ci(skewed_scores(40, seed=6), method="bootstrap", seed=0)
        assert estimate.ci_high - estimate.mean > estimate.mean - estimate.ci_low

    def test_clusters_are_resampled_whole(self):
        # Given 40 topics of 5 rows whose scores move together within a topic
        rng = np.random.default_rng(9)
        topic_effect = np.repeat(rng.normal(size=40), 5)
        values = topic_effect + rng.normal(scale=0.3, size=200)
        topics = np.repeat(np.arange(40), 5)

        # When bootstrapped by topic
        estimate = mean_ci(values, topics, method="bootstrap", seed=1)

        # Then the standard error is the clustered one (not the far smaller one of independent rows)
        assert estimate.se == pytest.approx(mean_ci(values, topics).se, rel=0.1)
        assert estimate.se > 1.5 * mean_ci(values).se

    def test_summarize_bootstraps_each_variant(self):
        # Given two variants scored on the same 60 rows
        a, b = skewed_scores(60, seed=1), skewed_scores(60, seed=2)
        scores = long_scores({"a": [[value] for value in a], "b": [[value] for value in b]})

        # When summarised with the bootstrap
        table = summarize(scores, method="bootstrap", seed=7)

        # Then each line has the plain mean and a percentile interval close to scipy's
        for variant, values in (("a", a), ("b", b)):
            reference = stats.bootstrap((values,), np.mean, method="percentile", n_resamples=20_000, random_state=0)
            width = reference.confidence_interval.high - reference.confidence_interval.low
            assert table.loc[variant, "mean"] == pytest.approx(values.mean())
            assert table.loc[variant, "ci_low"] == pytest.approx(reference.confidence_interval.low, abs=0.06 * width)
            assert table.loc[variant, "ci_high"] == pytest.approx(reference.confidence_interval.high, abs=0.06 * width)

    def test_the_paired_bootstrap_resamples_pairs(self):
        # Given b scoring a little below a on the same 80 rows, with large row-to-row differences
        rng = np.random.default_rng(12)
        difficulty = rng.lognormal(size=80)
        a, b = difficulty + rng.normal(scale=0.1, size=80) + 0.1, difficulty + rng.normal(scale=0.1, size=80)
        scores = long_scores({"a": [[value] for value in a], "b": [[value] for value in b]})

        # When compared with the bootstrap
        comparison = paired_difference(scores, "a", "b", method="bootstrap", seed=3)

        # Then the interval is the percentile bootstrap of the differences: narrow, since rows are paired
        differences = a - b
        reference = stats.bootstrap((differences,), np.mean, method="percentile", n_resamples=20_000, random_state=1)
        width = reference.confidence_interval.high - reference.confidence_interval.low
        assert comparison.mean_diff == pytest.approx(differences.mean())
        assert comparison.ci_low == pytest.approx(reference.confidence_interval.low, abs=0.05 * width)
        assert comparison.ci_high == pytest.approx(reference.confidence_interval.high, abs=0.05 * width)
        assert comparison.distinguishable and comparison.p_value < 0.01
        assert comparison.n_pairs == 80

    def test_the_paired_bootstrap_p_value_counts_resamples_beyond_zero(self):
        # Given identical variants / When compared with the bootstrap / Then every resample is 0 and p = 1
        scores = long_scores({"a": [[1.0], [0.0], [1.0]], "b": [[1.0], [0.0], [1.0]]})
        assert paired_difference(scores, "a", "b", method="bootstrap", seed=0).p_value == 1.0

    def test_an_unknown_method_is_refused(self):
        with pytest.raises(InvalidData, match="method must be one of 't', 'bootstrap'"):
            mean_ci([1.0, 2.0], method="jackknife")


class TestProportionInterval:
    def test_varied_rows_get_the_t_interval_clipped_to_zero_and_one(self):
        # Given per-row win shares / When their interval is computed / Then it is scipy's t interval, clipped
        values = [1.0, 0.5, 1.0, 1.0, 0.0, 1.0]
        reference = stats.ttest_1samp(values, 0.5).confidence_interval(0.95)
        estimate = proportion_interval(values)
        assert (estimate.ci_low, estimate.ci_high) == pytest.approx((reference.low, min(reference.high, 1.0)))

    def test_rows_without_variation_get_the_wilson_interval_at_their_share(self):
        # Given five rows all tied at one half / When the interval is computed / Then it is Wilson's at 0.5
        z = stats.norm.ppf(0.975)
        half_width = z / (1 + z**2 / 5) * math.sqrt(0.25 / 5 + z**2 / 100)
        estimate = proportion_interval([0.5] * 5)
        assert (estimate.ci_low, estimate.ci_high) == pytest.approx((0.5 - half_width, 0.5 + half_width))
        assert proportion_interval([1.0] * 10).ci_low == pytest.approx(wilson_interval(10, 10)[0])
