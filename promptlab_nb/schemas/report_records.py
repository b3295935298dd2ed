"""What a report shows of an experiment, as plain data: read from the store by services/report_rows.py,
laid out as HTML by display/report.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REPORT_ROWS = 5000
NOTEBOOK_ROWS = 500
CELL_FIELDS = (
    "variant",
    "run_id",
    "repeat",
    "status",
    "output",
    "error",
    "failed_step",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "cost",
    "cache_hit",
    "scores",
    "reasons",
    "rating",
    "rating_note",
    "failed_output",
)


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One data row: its inputs and one cell per run (every variant and repeat), each a dict keyed
    by ``CELL_FIELDS`` whose ``variant`` is the variant's position, ``scores`` and ``reasons`` dicts
    by evaluator."""

    row_index: int
    inputs: dict[str, Any]
    cells: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ReportRows:
    """The first rows of an experiment, up to a limit, and where the rows left out start and end."""

    rows: list[ReportRow]
    input_columns: list[str]
    evaluators: list[str]
    total_rows: int
    left_out_from: int | None = None
    left_out_to: int | None = None

    @property
    def left_out(self) -> int:
        return self.total_rows - len(self.rows)


@dataclass(frozen=True, slots=True)
class ReportContent:
    """Everything a report page shows: the widget's header (title, summary per variant with CIs, the
    chart's bars) and its rows."""

    title: str
    variants: list[str]
    summary: list[dict[str, Any]]
    chart: list[dict[str, Any]]
    rows: ReportRows
    expected_runs: int
    page_size: int
