"""Time the statistics on 100,000 scored runs: 4 variants x 5,000 rows x 5 repeats, 50 topics;
and the bootstrap on 10,000 rows: 2 variants x 10,000 rows of skewed scores.

Run: .venv/bin/python bench/bench_statistics.py  (exits 1 when a figure exceeds its budget)
"""

from __future__ import annotations

import itertools
import platform
import sys

import numpy as np
import pandas as pd
from timing import best_seconds

from promptlab_nb.core.vocabulary import RunStatus
from promptlab_nb.evaluation.analysis import summary_table
from promptlab_nb.evaluation.statistics import BOOTSTRAP_METHOD, BOOTSTRAP_RESAMPLES, paired_difference, summarize

VARIANTS, ROWS, REPEATS, TOPICS = 4, 5_000, 5, 50
MISSING_SHARE = 0.01
BOOTSTRAP_VARIANTS, BOOTSTRAP_ROWS = 2, 10_000
BUDGET_SECONDS = 1.0


def scored_runs(seed: int = 0) -> pd.DataFrame:
    """Pass/fail scores whose pass rate depends on variant and topic, 1 % missing."""
    rng = np.random.default_rng(seed)
    grid = np.meshgrid(np.arange(VARIANTS), np.arange(ROWS), np.arange(REPEATS), indexing="ij")
    variant, row, repeat = (axis.ravel() for axis in grid)
    topic = row % TOPICS
    pass_rate = 0.5 + 0.03 * variant + 0.2 * np.sin(topic)
    value = (rng.uniform(size=variant.size) < pass_rate).astype(float)
    value[rng.uniform(size=value.size) < MISSING_SHARE] = np.nan
    return pd.DataFrame(
        {
            "variant": np.array([f"variant_{v}" for v in range(VARIANTS)])[variant],
            "row_index": row,
            "repeat": repeat,
            "value": value,
            "cluster": np.array([f"topic_{t}" for t in range(TOPICS)])[topic],
        }
    )


def skewed_runs(seed: int = 1) -> pd.DataFrame:
    """One run per row of each variant, as ``summary_table`` reads them: lognormal scores, all ok."""
    rng = np.random.default_rng(seed)
    size = BOOTSTRAP_VARIANTS * BOOTSTRAP_ROWS
    return pd.DataFrame(
        {
            "variant": np.repeat([f"variant_{v}" for v in range(BOOTSTRAP_VARIANTS)], BOOTSTRAP_ROWS),
            "row_index": np.tile(np.arange(BOOTSTRAP_ROWS), BOOTSTRAP_VARIANTS),
            "repeat": 0,
            "status": RunStatus.OK,
            "latency_ms": rng.uniform(100, 900, size),
            "input_tokens": 100,
            "output_tokens": 50,
            "cost": 0.0,
            "cache_hit": False,
            "score": rng.lognormal(0.0, 1.0, size) + np.repeat(np.arange(BOOTSTRAP_VARIANTS) * 0.05, BOOTSTRAP_ROWS),
        }
    )


def compare_all_pairs(runs: pd.DataFrame) -> None:
    for a, b in itertools.combinations(pd.unique(runs["variant"]), 2):
        paired_difference(runs, a, b, cluster="cluster")


def bootstrap_seconds() -> dict[str, float]:
    runs = skewed_runs()
    scores = runs[["variant", "row_index", "repeat"]].assign(value=runs["score"])
    first, second = (f"variant_{v}" for v in range(2))
    return {
        "summarize, bootstrap, 1 variant": best_seconds(
            lambda: summarize(scores[scores["variant"] == first], method=BOOTSTRAP_METHOD, seed=0)
        ),
        "paired_difference, bootstrap": best_seconds(
            lambda: paired_difference(scores, first, second, method=BOOTSTRAP_METHOD, seed=0)
        ),
        "summary_table, bootstrap, 2 variants": best_seconds(
            lambda: summary_table(runs, ["score"], method=BOOTSTRAP_METHOD, seed=0)
        ),
    }


def main() -> int:
    runs = scored_runs()
    summary_seconds = best_seconds(lambda: summarize(runs, cluster="cluster"))
    pairs_seconds = best_seconds(lambda: compare_all_pairs(runs))
    print(f"{len(runs):,} runs, {platform.python_version()}, {platform.machine()}")
    print(f"summarize (clustered):              {summary_seconds * 1000:7.1f} ms")
    print(f"paired_difference, all 6 pairs:     {pairs_seconds * 1000:7.1f} ms")
    print(summarize(runs, cluster="cluster").round(4).to_string())
    bootstrap = bootstrap_seconds()
    print(f"bootstrap, {BOOTSTRAP_ROWS:,} rows a variant, {BOOTSTRAP_RESAMPLES:,} resamples:")
    for name, seconds in bootstrap.items():
        print(f"  {name + ':':38}{seconds * 1000:7.1f} ms")
    within_budget = summary_seconds < BUDGET_SECONDS and max(bootstrap.values()) < BUDGET_SECONDS
    return 0 if within_budget else 1


if __name__ == "__main__":
    sys.exit(main())
