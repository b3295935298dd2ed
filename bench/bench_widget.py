"""Time the comparison widget on a stored 10,000-run experiment: 2 variants x 5,000 rows, one evaluator,
with outputs of about 40 words. Opening means reading the runs from DuckDB, building the grid state and
the summary, and rendering the first page; then the interactions a user makes on all 10,000 runs.

Run: .venv/bin/python bench/bench_widget.py  (exits 1 when opening exceeds its budget)
"""

from __future__ import annotations

import platform
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from timing import best_seconds

import promptlab_nb as pl
from promptlab_nb.notebook.widget import ComparisonWidget
from promptlab_nb.notebook.widget_state import ComparisonState

ROWS = 5_000
BUDGET_SECONDS = 0.5
WORDS = "the capital city of this country is well known for its long history and its river".split()


def answer(messages: list[dict[str, str]], shift: int) -> str:
    number = int(messages[-1]["content"].split()[-1])
    words = [WORDS[(number + shift + position) % len(WORDS)] for position in range(40)]
    return " ".join(words) + (" yes" if (number + shift) % 3 else " no")


def stored_experiment(folder: Path) -> pl.Experiment:
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


def interaction_timings(widget: ComparisonWidget) -> dict[str, float]:
    def set_traits(**values: object) -> Callable[[], None]:
        def apply() -> None:
            widget.set_trait("search", "")
            for name, value in values.items():
                setattr(widget, name, value)
            widget.page = 0
            widget.failed_only = widget.disagree_only = False
            widget.sort_by, widget.baseline = "row", ""

        return apply

    return {
        "next page": best_seconds(lambda: setattr(widget, "page", widget.page + 1)),
        "text search": best_seconds(set_traits(search="river yes")),
        "variants disagree": best_seconds(set_traits(disagree_only=True)),
        "sort by score": best_seconds(set_traits(sort_by="score:0:1")),
        "diff against a variant": best_seconds(set_traits(baseline="variant:0")),
    }


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        experiment = stored_experiment(Path(folder))
        runs = experiment.runs
        read_seconds = best_seconds(lambda: experiment.runs)
        state_seconds = best_seconds(lambda: ComparisonState.from_runs(runs))
        state = ComparisonState.from_runs(runs)
        page_seconds = best_seconds(lambda: state.page(ComparisonWidget(experiment).query))
        open_seconds = best_seconds(lambda: ComparisonWidget.from_experiment(experiment))
        interactions = interaction_timings(ComparisonWidget.from_experiment(experiment))
        experiment.database.dispose()
    print(f"{len(runs):,} runs, Python {platform.python_version()}, {platform.machine()}, pandas {pd.__version__}")
    print(f"read exp.runs from DuckDB:           {read_seconds * 1000:7.1f} ms")
    print(f"grid state from the runs:            {state_seconds * 1000:7.1f} ms")
    print(f"first page (25 rows):                {page_seconds * 1000:7.1f} ms")
    print(f"open the widget (all of the above + summary): {open_seconds * 1000:7.1f} ms")
    for name, seconds in interactions.items():
        print(f"{name + ':':<37}{seconds * 1000:7.1f} ms")
    return 0 if open_seconds < BUDGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
