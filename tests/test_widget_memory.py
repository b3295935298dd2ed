"""The widget's background work (summaries and counts over large experiments) gives back what it freed."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptlab_nb.notebook import widget as widget_module

KEPT_WITHOUT_TRIMMING_MB = 60


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


def megabytes_kept_by(run_on_the_background_thread) -> float:
    kept: list[bytearray] = []
    widget_module.in_background(kept.clear).result()
    before = resident_megabytes()
    run_on_the_background_thread(fragmenting_work, kept).result()
    return resident_megabytes() - before


@pytest.mark.skipif(
    widget_module.MALLOC_TRIM is None, reason="the C library here has no malloc_trim (not glibc on Linux)"
)
def test_memory_freed_by_the_background_work_leaves_the_kernel():
    # Given a C library that keeps what the background thread frees (checked without the trim)
    if megabytes_kept_by(widget_module.BACKGROUND.submit) < KEPT_WITHOUT_TRIMMING_MB:
        pytest.skip("the C library here gives freed memory back by itself (MALLOC_ARENA_MAX or another allocator)")
    # When a summary-like piece of work allocates and frees about 100 MB as the widget's background work
    kept = megabytes_kept_by(widget_module.in_background)
    # Then the process holds about what it held before, not the 100 MB it freed
    assert kept < 30


def test_a_failure_of_the_background_work_reaches_whoever_waits_for_it():
    # Given background work that fails
    def failing() -> None:
        raise ValueError("the store went away")

    # When it runs on the background thread
    finished = widget_module.in_background(failing)

    # Then its future holds the error
    assert isinstance(finished.exception(timeout=10), ValueError)
