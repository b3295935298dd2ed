"""Time the comparison widget on a large stored experiment: by default 2 variants x 500,000 rows = 1,000,000
runs on DuckDB, one evaluator, outputs of about 40 words (bench/synthetic_store.py writes them with SQL).
Opening reads the grid's size and first page from the store; the summary follows; then the interactions
a user makes, each computed in SQL. The viewing runs in a fresh process, whose peak memory is reported.

    .venv/bin/python bench/bench_widget.py [--rows 500000] [--variants 2] [--repeats 1]
    .venv/bin/python bench/bench_widget.py --postgres --rows 50000     # PostgreSQL, straight after writing
    .venv/bin/python bench/bench_widget.py --store /tmp/large.duckdb   # written once, then reused

Exits 1 when opening exceeds 0.5 s or an interaction 0.2 s (DuckDB).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from synthetic_store import header, postgres_schema_url, timed
from synthetic_store import stored_experiment as large_experiment

import promptlab_nb as pl
from promptlab_nb.notebook.widget import ComparisonWidget

OPEN_BUDGET_SECONDS = 0.5
INTERACTION_BUDGET_SECONDS = 0.2
ROWS = 5_000
WORDS = "the capital city of this country is well known for its long history and its river".split()


def answer(messages: list[dict[str, str]], shift: int) -> str:
    number = int(messages[-1]["content"].split()[-1])
    words = [WORDS[(number + shift + position) % len(WORDS)] for position in range(40)]
    return " ".join(words) + (" yes" if (number + shift) % 3 else " no")


def stored_experiment(folder: Path) -> pl.Experiment:
    """The 10,000-run experiment bench_report.py writes a report of, run through the runner: 2 mock
    variants x ``ROWS`` rows, one evaluator, outputs of about 40 words."""
    lab = pl.Lab(f"duckdb:///{folder / 'bench.duckdb'}")
    pl.mock_model("left", lambda messages: answer(messages, 0))
    pl.mock_model("right", lambda messages: answer(messages, 1))
    lab.templates.save("describe", "Describe row {{ number }}")
    data = pd.DataFrame({"number": range(ROWS), "expected": ["yes"] * ROWS})
    return lab.compare(
        ["describe"],
        data,
        models=["mock:left", "mock:right"],
        evaluators=["contains:yes"],
        progress=False,
        name="bench",
    )


INTERACTIONS: dict[str, tuple[dict[str, object], str, object]] = {
    "next page": ({"page": 41}, "page", 42),
    "page 10,000": ({}, "page", 10_000),
    "rows with a run error": ({}, "errors_only", True),
    "rows that failed a check": ({}, "failed_check", "*"),
    "variants disagree": ({}, "disagree_only", True),
    "search the outputs": ({}, "search", "river yes"),
    "search the inputs": ({}, "search", "question 4242"),
    "sort by a score": ({}, "sort_by", "score:0:1"),
    "sort by a score, descending": ({"sort_by": "score:0:1"}, "descending", True),
    "diff against a variant": ({}, "baseline", "variant:0"),
}
"""Name -> (the traits set before, the one trait the user changes, its new value)."""

FIRST_ON_AN_OPENED_WIDGET: dict[str, tuple[dict[str, object], str, object]] = {
    "first filter: rows with a run error": ({}, "errors_only", True),
    "first filter: rows that failed a check": ({}, "failed_check", "*"),
    "first filter: variants disagree": ({}, "disagree_only", True),
    "first sort by a score": ({}, "sort_by", "score:0:1"),
    "first sort by a score, descending": ({"descending": True}, "sort_by", "score:0:1"),
}
"""The same changes made first on a widget just opened, before it read the index of its cells (each in a
process of its own)."""

QUERY_DEFAULTS = {
    "search": "",
    "errors_only": False,
    "failed_check": "",
    "disagree_only": False,
    "sort_by": "row",
    "descending": False,
    "baseline": "",
    "page": 0,
}


def interaction_seconds(
    widget: ComparisonWidget, before: dict[str, object], name: str, value: object
) -> tuple[float, float]:
    """The best of 3 times of one change the user makes, each from the state ``before`` (set untimed), until
    its page is shown; and the first time until the rows that match are counted too (a search counts them
    after the page, once: the next times reuse that count)."""
    shown, counted = [], []
    for _ in range(3):
        for trait, default in {**QUERY_DEFAULTS, **before}.items():
            setattr(widget, trait, default)
        widget.wait_for_count()
        started = time.perf_counter()
        setattr(widget, name, value)
        shown.append(time.perf_counter() - started)
        widget.wait_for_count()
        counted.append(time.perf_counter() - started)
    return min(shown), counted[0]


def first_interaction(url: str, name: str) -> dict[str, float]:
    """In a process of its own, open the widget (its summary shown), then time the change ``name`` of
    ``FIRST_ON_AN_OPENED_WIDGET`` until its page is shown (wall and CPU time), and until the rows that match
    are counted (the index of the cells is read with the count, in the background); peak memory after."""
    before, trait, value = FIRST_ON_AN_OPENED_WIDGET[name]
    lab = pl.Lab(url)
    widget = ComparisonWidget.from_experiment(lab.experiment("large"))
    widget.wait_for_summary()
    for before_trait, before_value in before.items():
        setattr(widget, before_trait, before_value)
    started, processor = time.perf_counter(), time.process_time()
    setattr(widget, trait, value)
    figures = {name: time.perf_counter() - started, f"{name}, CPU": time.process_time() - processor}
    widget.wait_for_count()
    figures[f"{name}, counted"] = time.perf_counter() - started
    lab.close()
    figures[f"{name}, peak memory, MB"] = peak_megabytes()
    return figures


def processor_seconds(experiment: pl.Experiment) -> float:
    """CPU time of this process (DuckDB's threads included, not PostgreSQL's server) to open the widget
    and show its summary."""
    started = time.process_time()
    ComparisonWidget.from_experiment(experiment).wait_for_summary()
    return time.process_time() - started


def opening_seconds(experiment: pl.Experiment) -> float:
    """Until the first page is shown; the summary that follows is waited for untimed."""
    widget, seconds = timed(lambda: ComparisonWidget.from_experiment(experiment))
    widget.wait_for_summary()
    return seconds


def best_of(work: Callable[[], object], rounds: int = 3) -> float:
    return min(timed(work)[1] for _ in range(rounds))


def view(url: str) -> dict[str, float]:
    """Open the widget on the experiment ``large`` at ``url`` and time what a user does."""
    lab = pl.Lab(url)
    experiment = lab.experiment("large")
    widget, first_open = timed(lambda: ComparisonWidget.from_experiment(experiment))
    _, summary_after = timed(widget.wait_for_summary)
    figures = {"open (first)": first_open, "summary shown after": summary_after}

    def reopen() -> None:
        ComparisonWidget.from_experiment(experiment).wait_for_summary()

    figures["open + summary (best of 3)"] = best_of(reopen)
    figures["open (best of 3)"] = min(opening_seconds(experiment) for _ in range(3))
    figures["open + summary, CPU of this process"] = min(processor_seconds(experiment) for _ in range(3))
    widget.wait_for_summary()
    figures["peak memory after opening, MB"] = peak_megabytes()
    for name, (before, trait, value) in INTERACTIONS.items():
        figures[name], counted = interaction_seconds(widget, before, trait, value)
        if trait == "search":
            figures[f"{name}, counted"] = counted
    lab.close()
    figures["peak memory, MB"] = peak_megabytes()
    return figures


def peak_megabytes() -> float:
    """This process's peak resident memory. On Linux, ``VmHWM`` of /proc/self/status: ``ru_maxrss`` of a
    started process counts the memory of the process that started it (shared with the child until exec),
    so a view started right after writing a million runs reported the writer's 700-800 MB."""
    status = Path("/proc/self/status")
    if status.exists():
        peak = next(line for line in status.read_text().splitlines() if line.startswith("VmHWM:"))
        return int(peak.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def written_seconds(url: str, options: argparse.Namespace) -> float:
    lab = pl.Lab(url)
    _, seconds = timed(lambda: large_experiment(lab, options.rows, options.variants, options.repeats))
    lab.close()
    return seconds


def viewed(url: str, *options: str) -> dict[str, float]:
    """The figures of a view in a fresh process."""
    command = [sys.executable, __file__, "--view", url, *options]
    shown = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return {name: float(value) for name, value in (line.split("\t") for line in shown.splitlines())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--variants", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--postgres", action="store_true", help="write and view in a fresh PostgreSQL schema")
    parser.add_argument(
        "--store", type=Path, help="a DuckDB file to view: written first when it does not exist, else reused as is"
    )
    parser.add_argument("--view", help=argparse.SUPPRESS)
    parser.add_argument("--first", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.view:
        figures = first_interaction(options.view, options.first) if options.first else view(options.view)
        for name, value in figures.items():
            print(f"{name}\t{value}")
        return 0
    with tempfile.TemporaryDirectory() as folder:
        store = options.store or Path(folder) / "bench.duckdb"
        url = postgres_schema_url("bench_widget") if options.postgres else f"duckdb:///{store}"
        write_seconds = written_seconds(url, options) if options.postgres or not store.exists() else 0.0
        figures = viewed(url)
        for name in FIRST_ON_AN_OPENED_WIDGET:
            figures.update(viewed(url, "--first", name))
    print(header(options.postgres, options.rows, options.variants, options.repeats))
    print(f"{'written with SQL in':<50}{write_seconds:8.2f} s" if write_seconds else f"reused {options.store}")
    for name, value in figures.items():
        unit = "MB" if name.endswith("MB") else "ms"
        name = name.removesuffix(", MB")
        print(f"{name:<50}{value if unit == 'MB' else value * 1000:8.0f} {unit}")
    slow = figures["open (first)"] > OPEN_BUDGET_SECONDS or any(
        figures[name] > INTERACTION_BUDGET_SECONDS for name in [*INTERACTIONS, *FIRST_ON_AN_OPENED_WIDGET]
    )
    return 1 if slow and not options.postgres else 0


if __name__ == "__main__":
    sys.exit(main())
