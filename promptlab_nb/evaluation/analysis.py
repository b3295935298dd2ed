"""From a runs DataFrame to the numbers a decision needs: per-variant summaries with confidence
intervals, paired comparisons, and wide tables. A run that failed scores 0, so a variant that
fails often cannot look better than it is.

The summary's "vs best" column compares every other variant with the best one; its p-values are
Holm-adjusted across those comparisons (the text says so), so ten variants do not give ten
chances of a false alarm. A pass rate whose rows all pass (or all fail) gets the Wilson interval
of that count rather than the zero-width interval of data without variation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from promptlab_nb.core.errors import InvalidData
from promptlab_nb.core.vocabulary import RunStatus
from promptlab_nb.evaluation.statistics import (
    T_METHOD,
    PairedComparison,
    holm_adjusted,
    paired_difference,
    per_row_means,
    summarize,
    wilson_interval,
)

RATING = "rating"
HOLM_NOTE = "vs best: p-values Holm-adjusted across the comparisons with the best variant"


def long_scores(runs: pd.DataFrame, evaluator: str, cluster: str | None = None) -> pd.DataFrame:
    """variant, row_index, repeat, value (and cluster) for one evaluator; failed runs score 0."""
    if evaluator not in runs.columns:
        raise InvalidData(f"No scores named {evaluator!r}; scored: {', '.join(scored_columns(runs)) or '(none)'}.")
    if cluster and cluster not in runs.columns:
        raise InvalidData(f"No column {cluster!r} to cluster by; the data has: {', '.join(map(str, runs.columns))}.")
    values = pd.to_numeric(runs[evaluator], errors="coerce").astype(float)
    if evaluator != RATING:
        values = values.where(runs["status"] == RunStatus.OK, 0.0)
    frame = pd.DataFrame(
        {"variant": runs["variant"], "row_index": runs["row_index"], "repeat": runs["repeat"], "value": values}
    )
    if cluster:
        frame["cluster"] = runs[cluster].astype(str)
    return frame


def scored_columns(runs: pd.DataFrame) -> list[str]:
    return [column for column in runs.attrs.get("evaluators", []) if column in runs.columns]


def summary_table(
    runs: pd.DataFrame,
    evaluators: Sequence[str],
    cluster: str | None = None,
    method: str = T_METHOD,
    seed: int | None = None,
) -> pd.DataFrame:
    """One row per variant: runs, error rate, each evaluator's mean with its 95% CI and whether it is
    distinguishable from the best variant (Holm-adjusted), latency p50/p95 of the calls made (cache
    hits have none), mean tokens, total cost, cache hits. ``method`` "t" or "bootstrap" (with ``seed``)."""
    variants = list(pd.unique(runs["variant"]))
    grouped = runs.groupby("variant", sort=False)
    table = pd.DataFrame(index=pd.Index(variants, name="variant"))
    table["runs"] = grouped.size()
    table["error_rate"] = grouped["status"].apply(lambda status: float((status != RunStatus.OK).mean()))
    for evaluator in evaluators:
        table = table.join(_evaluator_columns(long_scores(runs, evaluator, cluster), evaluator, cluster, method, seed))
    called = runs[~runs["cache_hit"].astype(bool)].groupby("variant", sort=False)["latency_ms"]
    table["latency_p50_ms"] = called.quantile(0.5)
    table["latency_p95_ms"] = called.quantile(0.95)
    table["input_tokens"] = grouped["input_tokens"].mean()
    table["output_tokens"] = grouped["output_tokens"].mean()
    table["cost"] = grouped["cost"].apply(lambda cost: np.nan if cost.isna().any() else float(cost.sum()))
    table["cache_hits"] = grouped["cache_hit"].sum().astype(int)
    if len(evaluators):
        table.attrs["notes"] = [HOLM_NOTE]
    return table


def score_summary(
    rows: pd.DataFrame,
    evaluators: Sequence[str],
    cluster: str | None = None,
    method: str = T_METHOD,
    seed: int | None = None,
) -> pd.DataFrame:
    """``summary_table``'s columns of each evaluator (mean, 95% CI, vs best) from per-row means, as the
    store computes them: ``rows`` holds one row per (variant, row_index) with ``variant``, ``row_index``,
    each evaluator's mean over the row's repeats (a run that failed scored 0) and the ``cluster`` label.
    They are not grouped again."""
    table = pd.DataFrame(index=pd.Index(list(pd.unique(rows["variant"])), name="variant"))
    for evaluator in evaluators:
        scores = pd.DataFrame({"variant": rows["variant"], "row_index": rows["row_index"], "value": rows[evaluator]})
        if cluster:
            scores["cluster"] = rows[cluster].astype(str)
        table = table.join(_evaluator_columns(scores, evaluator, cluster, method, seed, averaged=True))
    if len(evaluators):
        table.attrs["notes"] = [HOLM_NOTE]
    return table


def _evaluator_columns(
    scores: pd.DataFrame,
    evaluator: str,
    cluster: str | None,
    method: str,
    seed: int | None,
    averaged: bool = False,
) -> pd.DataFrame:
    stats = summarize(scores, cluster="cluster" if cluster else None, method=method, seed=seed, averaged=averaged)
    columns = pd.DataFrame(index=stats.index)
    columns[evaluator] = stats["mean"]
    low, high = score_range(scores["value"])
    columns[f"{evaluator} ci_low"] = stats["ci_low"].clip(lower=low)
    columns[f"{evaluator} ci_high"] = stats["ci_high"].clip(upper=high)
    for variant, interval in _unanimous_pass_rates(scores, averaged).items():
        columns.loc[variant, [f"{evaluator} ci_low", f"{evaluator} ci_high"]] = interval
    columns[f"{evaluator} vs best"] = _versus_best(scores, stats, cluster, method, seed, averaged)
    return columns


def _unanimous_pass_rates(scores: pd.DataFrame, averaged: bool) -> dict[str, tuple[float, float]]:
    """Per variant whose rows all pass or all fail (per-row means all 1 or all 0): the Wilson interval."""
    rows = per_row_means(scores, averaged=averaged)
    values = rows["value"]
    by_variant = rows["variant"]
    passes = values.groupby(by_variant, sort=False, observed=True).agg(["sum", "size"])
    all_pass = values.eq(1.0).groupby(by_variant, sort=False, observed=True).all()
    all_fail = values.eq(0.0).groupby(by_variant, sort=False, observed=True).all()
    unanimous = passes[all_pass | all_fail]
    return {
        variant: wilson_interval(int(total), int(size))
        for variant, total, size in zip(unanimous.index, unanimous["sum"], unanimous["size"], strict=True)
    }


def score_range(values: pd.Series) -> tuple[float | None, float | None]:
    """Scores between 0 and 1 (pass rates, similarities, judges) cannot have an interval beyond
    them; the t interval of a small or extreme sample can, so it is clipped to [0, 1]."""
    known = values.dropna()
    if not known.empty and known.between(0, 1).all():
        return 0.0, 1.0
    return None, None


def _versus_best(
    scores: pd.DataFrame, stats: pd.DataFrame, cluster: str | None, method: str, seed: int | None, averaged: bool
) -> pd.Series:
    """Marks the best variant "best" and each other one with its Holm-adjusted p-value against it."""
    scored = stats["mean"].dropna()
    marks = pd.Series("", index=stats.index, dtype=object)
    if len(scored) < 2:
        return marks
    best = scored.idxmax()
    marks[best] = "best"
    others = list(scored.index.drop(best))
    comparisons = [
        paired_difference(
            scores, variant, best, "cluster" if cluster else None, method=method, seed=seed, averaged=averaged
        )
        for variant in others
    ]
    testable = [comparison.n_pairs >= 2 for comparison in comparisons]
    adjusted = holm_adjusted([c.p_value if ok else np.nan for c, ok in zip(comparisons, testable, strict=True)])
    for variant, comparison, p_value, ok in zip(others, comparisons, adjusted, testable, strict=True):
        marks[variant] = _versus_best_mark(comparison, p_value) if ok else "too few rows"
    return marks


def _versus_best_mark(comparison: PairedComparison, holm_p_value: float) -> str:
    if holm_p_value < 0.05 and comparison.mean_diff < 0:
        return f"worse (Holm p={holm_p_value:.3g})"
    return f"not distinguishable (Holm p={holm_p_value:.3g})"


def compare_pair(
    runs: pd.DataFrame,
    a: str,
    b: str,
    evaluator: str,
    cluster: str | None = None,
    method: str = T_METHOD,
    seed: int | None = None,
) -> PairedComparison:
    for variant in (a, b):
        if variant not in set(runs["variant"]):
            raise InvalidData(f"No variant {variant!r}; variants: {', '.join(dict.fromkeys(runs['variant']))}.")
    scores = long_scores(runs, evaluator, cluster)
    return paired_difference(scores, a, b, "cluster" if cluster else None, method=method, seed=seed)


def wide_table(runs: pd.DataFrame, value: str = "output", input_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Rows x variants of ``value``: outputs (first repeat) or a score (mean over repeats)."""
    if value not in runs.columns:
        raise InvalidData(
            f"No column {value!r} in the runs; try 'output' or one of: {', '.join(scored_columns(runs))}."
        )
    numeric = value != "output" and pd.api.types.is_numeric_dtype(runs[value])
    table = runs.pivot_table(
        index="row_index", columns="variant", values=value, aggfunc="mean" if numeric else "first", sort=False
    )
    table = table[list(dict.fromkeys(runs["variant"]))]
    inputs = runs.drop_duplicates("row_index").set_index("row_index")[list(input_columns)]
    table.columns.name = None
    return inputs.join(table) if len(input_columns) else table
