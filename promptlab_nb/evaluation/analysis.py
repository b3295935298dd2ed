"""From a runs DataFrame to the numbers a decision needs: per-variant summaries with confidence
intervals, paired comparisons, and wide tables. A run that failed scores 0, so a variant that
fails often cannot look better than it is."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from promptlab_nb.core.errors import InvalidData
from promptlab_nb.core.vocabulary import RunStatus
from promptlab_nb.evaluation.statistics import PairedComparison, paired_difference, summarize

RATING = "rating"


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


def summary_table(runs: pd.DataFrame, evaluators: Sequence[str], cluster: str | None = None) -> pd.DataFrame:
    """One row per variant: runs, error rate, each evaluator's mean with its 95% CI and whether it is
    distinguishable from the best variant, latency p50/p95 of the calls made (cache hits have none),
    mean tokens, total cost, cache hits."""
    variants = list(dict.fromkeys(runs["variant"]))
    grouped = runs.groupby("variant", sort=False)
    table = pd.DataFrame(index=pd.Index(variants, name="variant"))
    table["runs"] = grouped.size()
    table["error_rate"] = grouped["status"].apply(lambda status: float((status != RunStatus.OK).mean()))
    for evaluator in evaluators:
        table = table.join(_evaluator_columns(runs, evaluator, cluster))
    called = runs[~runs["cache_hit"].astype(bool)].groupby("variant", sort=False)["latency_ms"]
    table["latency_p50_ms"] = called.quantile(0.5)
    table["latency_p95_ms"] = called.quantile(0.95)
    table["input_tokens"] = grouped["input_tokens"].mean()
    table["output_tokens"] = grouped["output_tokens"].mean()
    table["cost"] = grouped["cost"].apply(lambda cost: np.nan if cost.isna().any() else float(cost.sum()))
    table["cache_hits"] = grouped["cache_hit"].sum().astype(int)
    return table


def _evaluator_columns(runs: pd.DataFrame, evaluator: str, cluster: str | None) -> pd.DataFrame:
    scores = long_scores(runs, evaluator, cluster)
    stats = summarize(scores, cluster="cluster" if cluster else None)
    columns = pd.DataFrame(index=stats.index)
    columns[evaluator] = stats["mean"]
    low, high = _score_range(scores["value"])
    columns[f"{evaluator} ci_low"] = stats["ci_low"].clip(lower=low)
    columns[f"{evaluator} ci_high"] = stats["ci_high"].clip(upper=high)
    columns[f"{evaluator} vs best"] = _versus_best(scores, stats, cluster)
    return columns


def _score_range(values: pd.Series) -> tuple[float | None, float | None]:
    """Scores between 0 and 1 (pass rates, similarities, judges) cannot have an interval beyond
    them; the t interval of a small or extreme sample can, so it is clipped to [0, 1]."""
    known = values.dropna()
    if not known.empty and known.between(0, 1).all():
        return 0.0, 1.0
    return None, None


def _versus_best(scores: pd.DataFrame, stats: pd.DataFrame, cluster: str | None) -> pd.Series:
    scored = stats["mean"].dropna()
    marks = pd.Series("", index=stats.index, dtype=object)
    if len(scored) < 2:
        return marks
    best = scored.idxmax()
    marks[best] = "best"
    for variant in scored.index.drop(best):
        comparison = paired_difference(scores, variant, best, cluster="cluster" if cluster else None)
        if comparison.n_pairs < 2:
            marks[variant] = "too few rows"
        elif comparison.distinguishable:
            marks[variant] = f"worse (p={comparison.p_value:.3g})"
        else:
            marks[variant] = f"not distinguishable (p={comparison.p_value:.3g})"
    return marks


def compare_pair(runs: pd.DataFrame, a: str, b: str, evaluator: str, cluster: str | None = None) -> PairedComparison:
    for variant in (a, b):
        if variant not in set(runs["variant"]):
            raise InvalidData(f"No variant {variant!r}; variants: {', '.join(dict.fromkeys(runs['variant']))}.")
    return paired_difference(long_scores(runs, evaluator, cluster), a, b, cluster="cluster" if cluster else None)


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
