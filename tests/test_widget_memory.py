"""The widget's background work (summaries and counts over large experiments) gives back what it freed."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptlab_nb.notebook import widget as widget_module

pytestmark = pytest.mark.skipif(
    widget_module.MALLOC_TRIM is None, reason="the C library here has no malloc_trim (not glibc on Linux)"
)

MEGABYTE = 1024 * 1024


def resident_megabytes() -> float:
    status = Path("/proc/self/status").read_text()
    resident = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(resident.split()[1]) / 1024


def fragmenting_work(kept: list[bytearray]) -> None:
    """About 100 MB in blocks the C library allocates, freed, under one block still in use at the top of the
    thread's arena: the freed memory stays resident unless it is trimmed."""
    blocks = [bytearray(2048) for _ in range(50_000)]
    kept.append(bytearray(2048))
    del blocks


def test_memory_freed_by_the_background_work_leaves_the_kernel():
    # Given the widget's background thread, started
    kept: list[bytearray] = []
    widget_module.in_background(kept.clear).result()
    before = resident_megabytes()
    # When a summary-like piece of work allocates and frees about 100 MB there
    widget_module.in_background(fragmenting_work, kept).result()
    # Then the process holds about what it held before, not the 100 MB it freed
    assert resident_megabytes() - before < 30
