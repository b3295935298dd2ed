"""What the benchmarks share: the best wall time of a few rounds."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_seconds(work: Callable[[], object], rounds: int = 5) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)
