"""Time the statistics on 100,000 scored runs: 4 variants x 5,000 rows x 5 repeats, 50 topics.

Run: .venv/bin/python bench/bench_statistics.py  (exits 1 when the summary exceeds its budget)
"""

from __future__ import annotations

import itertools
import platform
import sys

import numpy as np
import pandas as pd
from timing import best_seconds

from promptlab_nb.evaluation.statistics import paired_difference, summarize

VARIANTS, ROWS, REPEATS, TOPICS = 4, 5_000, 5, 50
MISSING_SHARE = 0.01
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


def compare_all_pairs(runs: pd.DataFrame) -> None:
    for a, b in itertools.combinations(pd.unique(runs["variant"]), 2):
        paired_difference(runs, a, b, cluster="cluster")


def main() -> int:
    runs = scored_runs()
    summary_seconds = best_seconds(lambda: summarize(runs, cluster="cluster"))
    pairs_seconds = best_seconds(lambda: compare_all_pairs(runs))
    print(f"{len(runs):,} runs, {platform.python_version()}, {platform.machine()}")
    print(f"summarize (clustered):              {summary_seconds * 1000:7.1f} ms")
    print(f"paired_difference, all 6 pairs:     {pairs_seconds * 1000:7.1f} ms")
    print(summarize(runs, cluster="cluster").round(4).to_string())
    return 0 if summary_seconds < BUDGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
