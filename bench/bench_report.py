"""Size and speed of the report of a stored 10,000-run experiment (bench_widget.py's: 2 variants x 5,000
rows, one evaluator, outputs of about 40 words): the time to write the file, its size, and in Debian's
Chromium opened from file:// the time until the grid is interactive and the time of each interaction,
computed in the page over all 5,000 rows.

Run: .venv/bin/python bench/bench_report.py  (exits 1 above 10 MB or above 1 s to interactive)
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from pathlib import Path

from bench_widget import ROWS, stored_experiment
from timing import best_seconds

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.browser_support import chromium_page  # noqa: E402

MAX_MEGABYTES = 10
BUDGET_SECONDS = 1.0
LOADS = 3


def seconds_to_interactive(page, path: Path) -> float:
    """From navigation to the first page of the grid drawn, as the page's own clock measures it."""
    page.goto(path.as_uri(), wait_until="commit")
    page.locator(".promptlab-widget .pl-grid tr[data-row]").first.wait_for()
    return page.evaluate("() => performance.now()") / 1000


def timed(page, act) -> float:
    """From the user's action until the grid is drawn again."""
    grid = page.locator(".promptlab-widget .pl-grid").element_handle()
    started = time.perf_counter()
    act()
    page.wait_for_function("grid => !grid.isConnected", arg=grid)
    return time.perf_counter() - started


def interaction_seconds(page) -> dict[str, float]:
    report = page.locator(".promptlab-widget")
    return {
        "search (after its 250 ms typing pause)": timed(page, lambda: report.locator(".pl-search").fill("4321")),
        "clear the search": timed(page, lambda: report.locator(".pl-search").fill("")),
        "failed any check": timed(
            page, lambda: report.locator(".pl-failed-check").select_option(label="failed any check")
        ),
        "all checks": timed(page, lambda: report.locator(".pl-failed-check").select_option(label="all checks")),
        "variants disagree": timed(page, lambda: report.locator(".pl-disagree_only").check()),
        "all rows": timed(page, lambda: report.locator(".pl-disagree_only").uncheck()),
        "sort by a score": timed(page, lambda: report.locator(".pl-sort").select_option(index=1)),
        "diff against a variant": timed(page, lambda: report.locator(".pl-baseline").select_option(index=1)),
        "next page": timed(page, lambda: report.locator("button", has_text="next ›").click()),
    }


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        experiment = stored_experiment(Path(folder))
        path = Path(folder) / "report.html"
        write = best_seconds(lambda: experiment.report(path, max_rows=ROWS), rounds=3)
        megabytes = path.stat().st_size / 1e6
        with chromium_page(Path(folder) / "profile") as page:
            page.context.route(
                "**/*", lambda route: route.abort() if not route.request.url.startswith("file:") else route.continue_()
            )
            interactive = min(seconds_to_interactive(page, path) for _ in range(LOADS))
            interactions = interaction_seconds(page)
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"10,000 runs ({ROWS:,} rows x 2 variants): written in {write * 1000:.0f} ms, {megabytes:.2f} MB")
    print(f"interactive in chromium from file:// after {interactive * 1000:.0f} ms (best of {LOADS} loads)")
    for name, seconds in interactions.items():
        print(f"  {name}: {seconds * 1000:.0f} ms")
    return 0 if megabytes <= MAX_MEGABYTES and interactive <= BUDGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
