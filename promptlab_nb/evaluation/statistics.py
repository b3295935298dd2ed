"""Error bars for evaluation scores, after Evan Miller (2024), "Adding Error Bars to Evals".

Every function is pure: it takes scores and returns numbers, never touching the store.

The unit of analysis is a data row. Repeated runs of one variant on one row are averaged
first (Miller's resampling advice: repeats shrink the within-row noise, they are not new
rows), so ``n`` is always the number of rows.

Standard errors are the central-limit ones (sample variance, ``ddof=1``). With clusters
(rows that share a topic, a document, a template of question) the standard error is the
cluster-robust sandwich::

    se² = G / (G - 1) · Σ_c (Σ_{i∈c} (x_i - x̄))² / n²

with ``G`` clusters and ``n`` rows. The sum is Miller's clustered standard error; the factor
``G / (G - 1)`` is Stata's CR1 correction, which for a mean (one regressor) reduces to
exactly this. With clusters of size one the formula equals the plain standard error.

Intervals and p-values use Student's t with ``n - 1`` degrees of freedom (``G - 1`` when
clustered, as is usual for cluster-robust inference). They coincide with
``scipy.stats.ttest_1samp`` / ``ttest_rel``, and for a few hundred rows with Miller's
normal ``±1.96 se``; for small ``n`` they are wider, which is the honest direction. Using
one distribution for both keeps ``distinguishable`` and ``p_value < 0.05`` in agreement. The
quantiles come from ``quantiles`` (plain Python, scipy's to within 1e-12, without its import on the
way to a summary); the p-values from ``scipy.special.stdtr``.

When every row passes (or every row fails) the standard error is 0: the data show no
variation, which is not certainty. ``wilson_interval`` gives a non-degenerate interval
for a pass rate in that case.

``method="bootstrap"`` resamples rows instead (Efron & Tibshirani 1993, the percentile
interval): suited to skewed, non-binary scores where the t interval's symmetry is wrong.
Clustered, it resamples whole clusters and each resample's mean is its rows' mean
(the cluster bootstrap, Cameron, Gelbach & Miller 2008). Paired, it resamples the pairs,
i.e. the per-row differences. Its two-sided p-value is twice the share of resampled mean
differences on the far side of zero, each count plus one (Davison & Hinkley 1997, eq.
4.11), capped at 1. Its standard error is the standard deviation of the resampled means.
Given a ``seed`` the answer is reproducible.

``holm_adjusted`` corrects the p-values of several comparisons for their number (Holm
1979, step-down): the k-th smallest of m p-values is multiplied by ``m - k + 1``, and the
adjusted values are made non-decreasing. It controls the family-wise error rate at the
nominal level under any dependence between the comparisons.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from promptlab_nb.core.errors import InvalidData
from promptlab_nb.evaluation.quantiles import normal_quantile, two_sided_t

KEYS = ["variant", "row_index"]
SUMMARY_COLUMNS = ["n_rows", "mean", "se", "ci_low", "ci_high"]
T_METHOD, BOOTSTRAP_METHOD = "t", "bootstrap"
METHODS = (T_METHOD, BOOTSTRAP_METHOD)
BOOTSTRAP_RESAMPLES = 2000
_RESAMPLED_VALUES_PER_CHUNK = 2_000_000
_NAN = float("nan")


@dataclass(frozen=True, slots=True)
class Estimate:
    mean: float
    se: float
    ci_low: float
    ci_high: float
    n: int


@dataclass(frozen=True, slots=True)
class PairedComparison:
    """Variant ``a`` minus variant ``b`` on the rows both have; ``wins_a`` counts rows where ``a`` scored higher."""

    mean_diff: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    n_pairs: int
    wins_a: int
    wins_b: int
    ties: int

    def __repr__(self) -> str:
        return (
            f"PairedComparison(mean_diff={self.mean_diff:.4g}, 95% CI [{self.ci_low:.4g}, {self.ci_high:.4g}], "
            f"p={self.p_value:.3g}, n_pairs={self.n_pairs}, wins a/b/ties={self.wins_a}/{self.wins_b}/{self.ties})"
        )

    @property
    def distinguishable(self) -> bool:
        """True when the confidence interval of the difference excludes zero."""
        return bool(self.ci_low > 0 or self.ci_high < 0)


def per_row_means(df: pd.DataFrame, cluster: str | None = None, *, averaged: bool = False) -> pd.DataFrame:
    """One row per (variant, row_index): the mean of its repeats, missing values (NaN, None, NA) ignored.

    A row whose repeats are all missing is dropped. With ``cluster`` (a column of ``df``),
    the row's cluster label is kept in that column. ``averaged``: ``df`` holds these means
    already (one row per (variant, row_index), as the store computes them); they are not
    grouped again.
    """
    columns = [*KEYS, "value"] + ([cluster] if cluster else [])
    _require_columns(df, columns)
    if averaged:
        rows = df[columns].assign(value=pd.to_numeric(df["value"]).astype(float))
        return rows.dropna(subset=["value"]).reset_index(drop=True)
    scores = df.assign(value=pd.to_numeric(df["value"]).astype(float))
    grouped = scores.groupby(KEYS, sort=False, observed=True)
    means = grouped["value"].mean().rename("value")
    if cluster:
        means = pd.concat([means, grouped[cluster].first()], axis=1)
    return means.reset_index().dropna(subset=["value"]).reset_index(drop=True)


def mean_ci(
    values: Sequence[float] | np.ndarray | pd.Series,
    clusters: Sequence[Hashable] | np.ndarray | pd.Series | None = None,
    confidence: float = 0.95,
    method: str = T_METHOD,
    seed: int | None = None,
) -> Estimate:
    """The mean with its standard error and confidence interval (t, or ``method="bootstrap"``
    percentile with ``seed``); NaN values are ignored.

    With ``clusters`` (one label per value; a missing label is a cluster of its own) the
    standard error is the clustered one (the bootstrap resamples clusters). With fewer than
    two rows (or two clusters) the standard error and the interval are NaN.
    """
    _require_confidence(confidence)
    _require_method(method)
    return _estimate(np.asarray(values, dtype=float), clusters, confidence, method, seed)[0]


def wilson_interval(passes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a pass rate of ``passes`` out of ``n`` (useful when all pass or all fail).

    Newcombe's (1998) formulas as ``scipy.stats.binomtest(passes, n).proportion_ci(method="wilson")``
    evaluates them, without importing scipy.stats (over a second).
    """
    _require_confidence(confidence)
    if n <= 0:
        return _NAN, _NAN
    if not 0 <= passes <= n:
        raise InvalidData(f"passes must be between 0 and n={n}, got {passes}.")
    z = two_sided_z(confidence)
    share = passes / n
    denominator = 2 * (n + z**2)
    centre = (2 * n * share + z**2) / denominator
    half_width = z / denominator * math.sqrt(4 * n * share * (1 - share) + z**2)
    low = 0.0 if passes == 0 else centre - half_width
    high = 1.0 if passes == n else centre + half_width
    return low, high


def proportion_interval(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> Estimate:
    """The mean of per-row scores between 0 and 1 (a win rate, pass@k) with its t interval clipped to
    [0, 1]; when the rows show no variation (all equal, or a single row) the Wilson score interval at
    that mean over ``n`` rows instead, which is not zero-width."""
    _require_confidence(confidence)
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return Estimate(_NAN, _NAN, _NAN, _NAN, 0)
    estimate = _estimate(x, None, confidence)[0]
    if x.size < 2 or estimate.se == 0:
        low, high = _wilson_bounds(estimate.mean, x.size, confidence)
        return Estimate(estimate.mean, estimate.se, low, high, estimate.n)
    return Estimate(estimate.mean, estimate.se, max(estimate.ci_low, 0.0), min(estimate.ci_high, 1.0), estimate.n)


def two_sided_z(confidence: float) -> float:
    """The normal quantile a two-sided ``confidence`` interval reaches: 1.96 for 0.95."""
    return normal_quantile(0.5 + confidence / 2)


def _wilson_bounds(share: float, n: int, confidence: float) -> tuple[float, float]:
    z = two_sided_z(confidence)
    scale = 1 + z**2 / n
    centre = (share + z**2 / (2 * n)) / scale
    half_width = z / scale * math.sqrt(share * (1 - share) / n + z**2 / (4 * n**2))
    return max(centre - half_width, 0.0), min(centre + half_width, 1.0)


def summarize(
    df: pd.DataFrame,
    cluster: str | None = None,
    confidence: float = 0.95,
    method: str = T_METHOD,
    seed: int | None = None,
    *,
    averaged: bool = False,
) -> pd.DataFrame:
    """Per variant (index, in order of appearance): n_rows, mean, se, ci_low, ci_high of the per-row means.

    ``cluster`` names the column of ``df`` holding each row's cluster label; a variant
    without any scored row is listed with n_rows 0 and NaN statistics. ``method`` is ``"t"``
    or ``"bootstrap"`` (resampling rows, or clusters, with ``seed``). ``averaged``: ``df``
    holds the per-row means already (see ``per_row_means``).
    """
    _require_method(method)
    rows = per_row_means(df, cluster, averaged=averaged)
    by_variant = {variant: group for variant, group in rows.groupby("variant", sort=False, observed=True)}
    rng = np.random.default_rng(seed)
    estimates = {
        variant: _estimate_rows(by_variant.get(variant), cluster, confidence, method, rng)
        for variant in pd.unique(df["variant"])
    }
    table = pd.DataFrame(
        [[e.n, e.mean, e.se, e.ci_low, e.ci_high] for e in estimates.values()],
        index=pd.Index(list(estimates), name="variant"),
        columns=SUMMARY_COLUMNS,
    )
    return table.astype({"n_rows": "int64"})


def paired_difference(
    df: pd.DataFrame,
    a: str,
    b: str,
    cluster: str | None = None,
    confidence: float = 0.95,
    method: str = T_METHOD,
    seed: int | None = None,
    *,
    averaged: bool = False,
) -> PairedComparison:
    """Compare variant ``a`` with ``b`` on per-row means of the rows both were scored on.

    The standard error is that of the mean paired difference (clustered with ``cluster``);
    the p-value is the two-sided t-test of zero difference, as ``scipy.stats.ttest_rel``.
    A zero standard error gives p = 1 when the difference is 0 and p = 0 otherwise.
    ``method="bootstrap"`` resamples the pairs (or clusters of pairs) with ``seed`` instead.
    ``averaged``: ``df`` holds the per-row means already (see ``per_row_means``).
    """
    _require_method(method)
    rows = per_row_means(df, cluster, averaged=averaged)
    pairs = _paired_rows(rows, a, b, cluster)
    _require_confidence(confidence)
    differences = (pairs["a"] - pairs["b"]).to_numpy()
    estimate, dof, resampled = _estimate(differences, pairs["cluster"] if cluster else None, confidence, method, seed)
    tie = np.isclose(differences, 0.0, rtol=0.0, atol=1e-12)
    if resampled is not None:
        p_value = _bootstrap_p_value(resampled)
    else:
        p_value = _two_sided_p_value(estimate.mean, estimate.se, dof)
    return PairedComparison(
        mean_diff=estimate.mean,
        se=estimate.se,
        ci_low=estimate.ci_low,
        ci_high=estimate.ci_high,
        p_value=p_value,
        n_pairs=estimate.n,
        wins_a=int(((differences > 0) & ~tie).sum()),
        wins_b=int(((differences < 0) & ~tie).sum()),
        ties=int(tie.sum()),
    )


def holm_adjusted(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the order given; NaN p-values stay NaN and do not count."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, _NAN)
    present = np.flatnonzero(~np.isnan(p))
    order = present[np.argsort(p[present], kind="stable")]
    factors = len(order) - np.arange(len(order))
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(factors * p[order]))
    return adjusted


def sample_size(
    delta: float,
    sd: float | None = None,
    *,
    p: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    paired: bool = True,
    correlation: float | None = None,
) -> int:
    """Rows needed to detect a true difference ``delta`` between two variants (normal approximation).

    ``n = (z_{1-alpha/2} + z_{power})² · (σ_a² + σ_b² - 2ρ σ_a σ_b) / delta²``, rounded up
    (Miller 2024, section on power analysis; the classical two-sample formula when ρ = 0).

    - Scores: give ``sd``, the standard deviation of per-row scores (σ_a = σ_b = sd).
    - Pass rates: give ``p``, the baseline pass rate; σ_a² = p(1-p), σ_b² = p'(1-p') with p' = p + delta.
    - ``paired`` (both variants on the same rows): ``correlation`` ρ is the correlation of
      their per-row scores; None assumes 0, conservative when variants find the same rows
      hard. The answer is the number of shared rows. Unpaired: ρ = 0 and the answer is
      rows per variant.
    """
    if not (0 < alpha < 1 and 0 < power < 1):
        raise InvalidData(f"alpha and power must be between 0 and 1, got alpha={alpha}, power={power}.")
    variance = _difference_variance(delta, sd, p, paired, correlation)
    z_sum = normal_quantile(1 - alpha / 2) + normal_quantile(power)
    return max(2, math.ceil(z_sum**2 * variance / delta**2 - 1e-9))


def _difference_variance(
    delta: float, sd: float | None, p: float | None, paired: bool, correlation: float | None
) -> float:
    if delta == 0 or not math.isfinite(delta):
        raise InvalidData(f"delta must be a non-zero difference to detect, got {delta}.")
    if (sd is None) == (p is None):
        raise InvalidData("Give exactly one of sd (for scores) or p (for pass rates).")
    if correlation is not None and not paired:
        raise InvalidData("correlation applies to paired comparisons only; drop it or set paired=True.")
    rho = correlation or 0.0
    if not -1 <= rho <= 1:
        raise InvalidData(f"correlation must be between -1 and 1, got {correlation}.")
    sd_a, sd_b = _score_spreads(sd) if p is None else _pass_rate_spreads(p, delta)
    return sd_a**2 + sd_b**2 - 2 * rho * sd_a * sd_b


def _score_spreads(sd: float | None) -> tuple[float, float]:
    if sd is None or not sd > 0:
        raise InvalidData(f"sd must be positive, got {sd}.")
    return sd, sd


def _pass_rate_spreads(p: float, delta: float) -> tuple[float, float]:
    other = p + delta
    if not (0 <= p <= 1 and 0 <= other <= 1):
        raise InvalidData(f"Pass rates must stay between 0 and 1: p={p}, p + delta={other}.")
    return math.sqrt(p * (1 - p)), math.sqrt(other * (1 - other))


def _estimate_rows(
    rows: pd.DataFrame | None, cluster: str | None, confidence: float, method: str, rng: np.random.Generator
) -> Estimate:
    if rows is None:
        return Estimate(_NAN, _NAN, _NAN, _NAN, 0)
    values = rows["value"].to_numpy(dtype=float)
    return _estimate(values, rows[cluster] if cluster else None, confidence, method, rng)[0]


def _paired_rows(rows: pd.DataFrame, a: str, b: str, cluster: str | None) -> pd.DataFrame:
    _require_variants(rows, [a, b])
    indexed = rows.set_index("row_index")
    pairs = pd.DataFrame(
        {"a": indexed.loc[indexed["variant"] == a, "value"], "b": indexed.loc[indexed["variant"] == b, "value"]}
    ).dropna()
    if cluster:
        labels = indexed.loc[indexed["variant"].isin([a, b]), cluster]
        pairs["cluster"] = labels[~labels.index.duplicated()].reindex(pairs.index)
    return pairs


def _two_sided_p_value(mean: float, se: float, dof: int) -> float:
    if math.isnan(se) or dof < 1:
        return _NAN
    if se == 0:
        return 1.0 if mean == 0 else 0.0
    return float(2 * _special().stdtr(dof, -abs(mean / se)))


def _estimate(
    x: np.ndarray,
    clusters: Any,
    confidence: float,
    method: str = T_METHOD,
    seed: int | np.random.Generator | None = None,
) -> tuple[Estimate, int, np.ndarray | None]:
    """The estimate of the mean of the non-NaN values of ``x``, its degrees of freedom, and the
    resampled means when bootstrapped."""
    present = ~np.isnan(x)
    values = x[present]
    if values.size == 0:
        return Estimate(_NAN, _NAN, _NAN, _NAN, 0), 0, None
    codes = None if clusters is None else _cluster_codes(clusters)[present]
    if codes is None:
        se, dof = _plain_standard_error(values)
    else:
        se, dof = _clustered_standard_error(values, codes)
    mean = float(values.mean())
    if method == BOOTSTRAP_METHOD and dof >= 1:
        means = _bootstrap_means(values, codes, np.random.default_rng(seed))
        return _percentile_estimate(mean, means, confidence, values.size), dof, means
    low, high = _t_interval(mean, se, dof, confidence)
    return Estimate(mean, se, low, high, int(values.size)), dof, None


def _percentile_estimate(mean: float, means: np.ndarray, confidence: float, n: int) -> Estimate:
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Estimate(mean, float(means.std(ddof=1)), float(low), float(high), n)


def _bootstrap_means(
    values: np.ndarray, codes: np.ndarray | None, rng: np.random.Generator, resamples: int = BOOTSTRAP_RESAMPLES
) -> np.ndarray:
    """The means of ``resamples`` resamples of the rows, or of whole clusters given their ``codes``;
    drawn in chunks so that 10,000 rows never hold more than a few million indices at once."""
    if codes is None:
        sums, counts = values, None
    else:
        _, dense = np.unique(codes, return_inverse=True)
        sums, counts = np.bincount(dense, weights=values), np.bincount(dense).astype(float)
    units = sums.size
    means = np.empty(resamples)
    chunk = max(1, _RESAMPLED_VALUES_PER_CHUNK // units)
    for start in range(0, resamples, chunk):
        drawn = rng.integers(0, units, size=(min(chunk, resamples - start), units))
        if counts is None:
            means[start : start + chunk] = sums[drawn].mean(axis=1)
        else:
            means[start : start + chunk] = sums[drawn].sum(axis=1) / counts[drawn].sum(axis=1)
    return means


def _bootstrap_p_value(means: np.ndarray) -> float:
    below, above = int((means <= 0).sum()), int((means >= 0).sum())
    return min(1.0, 2 * (min(below, above) + 1) / (means.size + 1))


def _plain_standard_error(x: np.ndarray) -> tuple[float, int]:
    if x.size < 2:
        return _NAN, 0
    return float(math.sqrt(x.var(ddof=1) / x.size)), x.size - 1


def _clustered_standard_error(x: np.ndarray, codes: np.ndarray) -> tuple[float, int]:
    _, dense = np.unique(codes, return_inverse=True)
    groups = int(dense.max()) + 1
    if groups < 2:
        return _NAN, 0
    cluster_sums = np.bincount(dense, weights=x - x.mean())
    variance = groups / (groups - 1) * float(np.dot(cluster_sums, cluster_sums)) / x.size**2
    return math.sqrt(variance), groups - 1


def _cluster_codes(clusters: Any) -> np.ndarray:
    """Integer codes for cluster labels; each missing label gets a code of its own."""
    codes, uniques = pd.factorize(np.asarray(clusters, dtype=object))
    missing = codes < 0
    codes[missing] = len(uniques) + np.arange(int(missing.sum()))
    return codes


def _t_interval(mean: float, se: float, dof: int, confidence: float) -> tuple[float, float]:
    if math.isnan(se) or dof < 1:
        return _NAN, _NAN
    half_width = two_sided_t(confidence, dof) * se
    return mean - half_width, mean + half_width


def _require_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise InvalidData(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence}.")


def _require_method(method: str) -> None:
    if method not in METHODS:
        raise InvalidData(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}.")


def _require_columns(df: pd.DataFrame, columns: list[str]) -> None:
    missing = [column for column in columns if column not in df.columns]
    if missing:
        raise InvalidData(
            f"The scores table lacks the column(s) {', '.join(missing)}; it has: {', '.join(map(str, df.columns))}."
        )


def _require_variants(rows: pd.DataFrame, variants: list[str]) -> None:
    known = list(pd.unique(rows["variant"]))
    unknown = [variant for variant in variants if variant not in known]
    if unknown:
        raise InvalidData(
            f"No scored rows for variant(s) {', '.join(map(repr, unknown))}; variants with scores: "
            f"{', '.join(map(repr, known)) or '(none)'}."
        )


def _special():
    """scipy.special (for the Student t distribution function), imported on first use."""
    return importlib.import_module("scipy.special")
