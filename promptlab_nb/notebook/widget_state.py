"""What the comparison widget shows, computed without a browser: one grid row per data row, one cell
per variant (every repeat, the first shown), filtered, sorted and cut into pages, with word diffs for the
page; and the summary chart's bars."""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from promptlab_nb.core.vocabulary import RunStatus
from promptlab_nb.display.records import frame_records
from promptlab_nb.evaluation.analysis import RATING
from promptlab_nb.notebook.widget_diff import word_diff
from promptlab_nb.services.results import (
    data_keys,
    failed_step_answers,
    planned_for_a_page,
    rows_runs_frame,
    score_columns,
    shown_data_columns,
)
from promptlab_nb.services.run_grid import (
    CellIndex,
    GridFilter,
    GridSize,
    grid_count,
    grid_page,
    grid_page_by_score,
    grid_page_in_ranges,
    grid_size,
    read_in_ranges,
    served_by_cell_index,
    sorted_by_score_alone,
)

if TYPE_CHECKING:
    from promptlab_nb.schemas.experiment_records import ExperimentRecord
    from promptlab_nb.store.database import Database

ROW_ORDER = "row"
SCORE_SORT = "score"
VARIANT_BASELINE = "variant"
INPUT_BASELINE = "input"
ANY_CHECK = "*"
CELL_COLUMNS = [
    "run_id",
    "variant",
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
]


@dataclass
class GridQuery:
    """How the user looks at the grid. ``errors_only`` keeps rows with a run that failed to run;
    ``failed_check`` keeps rows where a check failed: ``""`` (no filter), ``"*"`` (any evaluator) or an
    evaluator's name. ``sort_by`` is ``"row"`` or ``"score:<evaluator>:<variant>"`` (indexes);
    ``baseline`` is ``""``, ``"variant:<index>"`` or ``"input:<column>"``."""

    page: int = 0
    page_size: int = 20
    errors_only: bool = False
    failed_check: str = ""
    disagree_only: bool = False
    search: str = ""
    sort_by: str = ROW_ORDER
    descending: bool = False
    baseline: str = ""


@dataclass
class GridRow:
    row_index: int
    inputs: dict[str, str]
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)
    repeats: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    _haystack: str | None = None

    @property
    def haystack(self) -> str:
        """Everything a text search looks in: inputs, outputs and errors, case-folded."""
        if self._haystack is None:
            texts = [*self.inputs.values()] + [
                cell.get("output") or cell.get("error") or "" for cell in self.cells.values()
            ]
            self._haystack = "\n".join(texts).casefold()
        return self._haystack

    def put(self, cell: dict[str, Any]) -> None:
        """Keep every repeat of each variant and show the lowest first; a newer run of the same repeat
        replaces the old one."""
        self.repeats.setdefault(cell["variant"], {})[cell["repeat"]] = cell
        current = self.cells.get(cell["variant"])
        if current is None or cell["repeat"] <= current["repeat"]:
            self.cells[cell["variant"]] = cell
            self._haystack = None


class GridLayout(ABC):
    """What every grid shows around its rows: the variants, data columns and evaluators, the options
    of its sort, filter and diff menus, a page's view and why a page is empty."""

    def __init__(self, variants: Sequence[str], input_columns: Sequence[str], evaluators: Sequence[str]):
        self.variants = list(variants)
        self.input_columns = list(input_columns)
        self.evaluators = [name for name in evaluators if name != RATING]

    @property
    @abstractmethod
    def finished(self) -> int:
        """How many (row, variant) cells have a run."""

    @abstractmethod
    def page(self, query: GridQuery, counted: bool = True) -> dict[str, Any]:
        """The view of the page ``query`` asks for; unless ``counted``, how many rows match may be left to
        ``count`` (the view then says ``counting``)."""

    @abstractmethod
    def set_rating(self, run_id: str, value: int, note: str | None) -> None:
        """Show a rating just stored."""

    def sort_options(self) -> list[dict[str, str]]:
        options = [{"key": ROW_ORDER, "label": "row order"}]
        for evaluator_index, evaluator in enumerate(self.evaluators):
            for variant_index, variant in enumerate(self.variants):
                key = f"{SCORE_SORT}:{evaluator_index}:{variant_index}"
                options.append({"key": key, "label": f"{evaluator} of {variant}"})
        return options

    def check_options(self) -> list[dict[str, str]]:
        """What the failed-checks filter offers: nothing, any evaluator, or one of them."""
        if not self.evaluators:
            return []
        options = [{"key": "", "label": "all checks"}, {"key": ANY_CHECK, "label": "failed any check"}]
        return options + [{"key": name, "label": f"failed {name}"} for name in self.evaluators]

    @property
    def compares_variants(self) -> bool:
        return len(self.variants) > 1

    def baseline_options(self) -> list[dict[str, str]]:
        options = [{"key": "", "label": "no diff"}]
        if self.compares_variants:
            options += [
                {"key": f"{VARIANT_BASELINE}:{index}", "label": f"vs {variant}"}
                for index, variant in enumerate(self.variants)
            ]
        options += [
            {"key": f"{INPUT_BASELINE}:{column}", "label": f"vs input {column}"} for column in self.input_columns
        ]
        return options

    def _checks(self, failed_check: str) -> list[str]:
        if failed_check == ANY_CHECK:
            return self.evaluators
        return [failed_check] if failed_check in self.evaluators else []

    def _filter_labels(self, query: GridQuery) -> list[str]:
        """The words that say what each filter ``query`` turns on keeps."""
        labels = []
        if query.errors_only:
            labels.append("has a run error")
        checks = self._checks(query.failed_check)
        if checks:
            labels.append("failed any check" if query.failed_check == ANY_CHECK else f"failed {checks[0]}")
        if query.disagree_only and self.compares_variants:
            labels.append("has variants that disagree")
        if query.search.strip():
            labels.append(f"contains {query.search.strip()!r}")
        return labels

    def _sorted_by(self, query: GridQuery) -> tuple[str, str] | None:
        """The (evaluator, variant) whose score ``query`` sorts by, or None for row order."""
        if not query.sort_by.startswith(f"{SCORE_SORT}:"):
            return None
        _, evaluator_index, variant_index = query.sort_by.split(":")
        return self.evaluators[int(evaluator_index)], self.variants[int(variant_index)]

    def _page_view(
        self, shown: Sequence[GridRow], page: int, page_size: int, matching: int | None, total: int, query: GridQuery
    ) -> dict[str, Any]:
        """The rows of one page, ready for the view, with where it is among all pages and, when no row
        is left, why. ``matching`` None: not counted yet, and a row follows the page."""
        return {
            "rows": [self._row_view(row, query.baseline) for row in shown],
            "page": page,
            "page_count": page + 2 if matching is None else _page_count(matching, page_size),
            "first": page * page_size + 1 if shown else 0,
            "last": page * page_size + len(shown),
            "matching": matching,
            "counting": matching is None,
            "total": total,
            "empty_reason": self._empty_reason(query, total) if matching == 0 else "",
        }

    def _empty_reason(self, query: GridQuery, total: int) -> str:
        if not total:
            return "No rows yet."
        filters = self._filter_labels(query)
        return f"No row of {total} {' and '.join(filters)}." if filters else "No rows."

    def _row_view(self, row: GridRow, baseline: str) -> dict[str, Any]:
        baseline_variant, baseline_text = self._baseline(row, baseline)
        return {
            "row_index": row.row_index,
            "inputs": [[column, row.inputs.get(column, "")] for column in self.input_columns],
            "cells": [
                _repeats_view(row.repeats.get(variant, {}), baseline_text if variant != baseline_variant else None)
                for variant in self.variants
            ],
        }

    def _baseline(self, row: GridRow, baseline: str) -> tuple[str | None, str | None]:
        kind, _, name = baseline.partition(":")
        if kind == VARIANT_BASELINE and name.isdigit() and int(name) < len(self.variants):
            variant = self.variants[int(name)]
            cell = row.cells.get(variant)
            return variant, cell["output"] if cell is not None and cell["status"] == RunStatus.OK else None
        if kind == INPUT_BASELINE and name in row.inputs:
            return None, row.inputs[name]
        return None, None


class ComparisonState(GridLayout):
    """The grid's data in memory: built from runs (a live run's, or one page of stored runs), or from the
    data rows before a live run fills it."""

    def __init__(self, variants: Sequence[str], input_columns: Sequence[str], evaluators: Sequence[str]):
        super().__init__(variants, input_columns, evaluators)
        self.rows: dict[int, GridRow] = {}
        self._cells_by_run: dict[str, dict[str, Any]] = {}

    @classmethod
    def from_runs(cls, runs: pd.DataFrame, variants: Sequence[str] = ()) -> ComparisonState:
        evaluators = runs.attrs.get("evaluators", [])
        input_columns = runs.attrs.get("inputs", [])
        state = cls(list(variants) or list(dict.fromkeys(runs["variant"])), input_columns, evaluators)
        if runs.empty:
            return state
        inputs = frame_records(runs.drop_duplicates("row_index")[["row_index", *input_columns]])
        state.add_rows({int(record.pop("row_index")): record for record in inputs})
        for cell in _cell_records(runs, state.evaluators):
            state.put(cell)
        return state

    def add_rows(self, inputs_by_row: dict[int, dict[str, Any]]) -> None:
        for row_index, inputs in inputs_by_row.items():
            self.rows[row_index] = GridRow(row_index, {key: _text(inputs.get(key)) for key in self.input_columns})

    def put(self, cell: dict[str, Any]) -> None:
        """Show one finished run (``row_index`` and ``variant`` say where)."""
        row = self.rows.get(cell["row_index"])
        if row is None:
            row = self.rows[cell["row_index"]] = GridRow(cell["row_index"], {})
        row.put(cell)
        self._cells_by_run[cell["run_id"]] = cell

    def show_failed_answers(self, answers: dict[str, str]) -> None:
        """The answer of the step each failed pipeline run stopped at, by run id."""
        for run_id, answer in answers.items():
            cell = self._cells_by_run.get(run_id)
            if cell is not None:
                cell["failed_output"] = answer

    def set_rating(self, run_id: str, value: int, note: str | None) -> None:
        cell = self._cells_by_run.get(run_id)
        if cell is not None:
            cell["rating"] = value or None
            cell["rating_note"] = note if value else None

    @property
    def finished(self) -> int:
        return sum(len(row.cells) for row in self.rows.values())

    def _filters(self, query: GridQuery) -> list[Callable[[GridRow], bool]]:
        """The filters ``query`` turns on, in the order of ``_filter_labels``."""
        filters: list[Callable[[GridRow], bool]] = []
        if query.errors_only:
            filters.append(has_run_error)
        checks = self._checks(query.failed_check)
        if checks:
            filters.append(lambda row: failed_a_check(row, checks))
        if query.disagree_only and self.compares_variants:
            filters.append(lambda row: variants_disagree(row, self.evaluators))
        term = query.search.strip().casefold()
        if term:
            filters.append(lambda row: term in row.haystack)
        return filters

    def matching_rows(self, query: GridQuery) -> list[GridRow]:
        rows: Iterable[GridRow] = self.rows.values()
        for keep in self._filters(query):
            rows = [row for row in rows if keep(row)]
        return self._sorted(list(rows), query)

    def page(self, query: GridQuery, counted: bool = True) -> dict[str, Any]:
        rows = self.matching_rows(query)
        page_size = max(1, query.page_size)
        page = min(max(0, query.page), _page_count(len(rows), page_size) - 1)
        shown = rows[page * page_size : (page + 1) * page_size]
        return self._page_view(shown, page, page_size, len(rows), len(self.rows), query)

    def _sorted(self, rows: list[GridRow], query: GridQuery) -> list[GridRow]:
        sorted_by = self._sorted_by(query)
        if sorted_by is None:
            return sorted(rows, key=lambda row: row.row_index, reverse=query.descending)
        evaluator, variant = sorted_by

        def score(row: GridRow) -> float | None:
            cell = row.cells.get(variant)
            return None if cell is None else cell["scores"].get(evaluator)

        scored = [(value, row) for row in rows if (value := score(row)) is not None]
        unscored = [row for row in rows if score(row) is None]
        ordered = sorted(scored, key=lambda pair: pair[0], reverse=query.descending)
        return [row for _, row in ordered] + unscored


@dataclass
class GridSource:
    """Where a stored grid reads its rows: the experiment in the store, its variants (labels and ids), its
    data columns (as shown, and their keys) and its evaluators (as shown -> as stored)."""

    database: Database
    experiment_id: str
    variants: list[str]
    variant_ids: list[str]
    input_columns: list[str]
    input_keys: list[str]
    evaluators: dict[str, str]
    row_count: int
    cells: CellIndex | None = None
    reading_cells: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def read(cls, database: Database, record: ExperimentRecord) -> tuple[GridSource, GridSize]:
        """The grid of the experiment ``record`` describes, and its size."""
        experiment_id = record.id
        variants = {variant.id: variant.label for variant in record.variants}
        with database.connection() as connection:
            evaluators = score_columns(connection, experiment_id)
            keys = data_keys(connection, experiment_id)
            size = grid_size(connection, experiment_id, record.row_count, len(variants), record.repeats)
        shown = shown_data_columns(keys, set(evaluators.values()))
        source = cls(
            database,
            experiment_id,
            list(variants.values()),
            list(variants),
            list(shown.values()),
            keys,
            {column: name for name, column in evaluators.items()},
            record.row_count,
        )
        return source, size

    def page(
        self, grid: GridFilter, size: GridSize, page: int, page_size: int, counted: bool = True
    ) -> tuple[ComparisonState, list[int], int, int | None]:
        """The grid rows of page ``page`` (the last one when there are fewer) with every repeat of every
        variant, ratings and failed steps; their row indexes in order, the page and how many rows match
        (unless ``counted``, None when the page was found without reading every row: see ``count``)."""
        with self.database.connection() as connection:
            rows, page, matching = self._row_page(connection, grid, size, page, page_size, counted)
            planned_for_a_page(connection)
            runs = rows_runs_frame(connection, self.experiment_id, rows, set(self.evaluators))
            answers = failed_step_answers(connection, self.experiment_id, _rows_stopped_at_a_step(runs))
        missing = [column for column in [*self.input_columns, *self.evaluators] if column not in runs.columns]
        runs = runs.assign(**dict.fromkeys(missing))
        runs.attrs.update(inputs=self.input_columns, evaluators=list(self.evaluators))
        state = ComparisonState.from_runs(runs, self.variants)
        state.show_failed_answers(answers)
        return state, rows, page, matching

    def count(self, grid: GridFilter, size: GridSize) -> int:
        """How many data rows ``grid`` keeps; a filter on statuses and scores reads the cell index for it
        (then the next such filters and sorts take milliseconds)."""
        with self.database.connection() as connection:
            if served_by_cell_index(grid):
                return len(self._cells(connection, size).matching(grid, self.variant_ids))
            return grid_count(connection, self.experiment_id, grid, size)

    def _row_page(
        self, connection, grid: GridFilter, size: GridSize, page: int, page_size: int, counted: bool
    ) -> tuple[list[int], int, int | None]:
        """The row indexes of page ``page`` (the last one when there are fewer), the page, how many match.
        Unless ``counted``, a page that can be found without reading every run (or every cell into the
        cell index, until it is read) is found so, and how many rows match may be None."""
        if served_by_cell_index(grid) and (counted or self.cells is not None):
            return self._index_page(connection, grid, size, page, page_size)
        found = None if counted else self._page_first(connection, grid, size, page, page_size)
        if found is not None:
            return found
        if served_by_cell_index(grid):
            return self._index_page(connection, grid, size, page, page_size)
        rows, count = grid_page(connection, self.experiment_id, grid, size, page * page_size, page_size)
        last_page = _page_count(count, page_size) - 1
        if page > last_page:
            page = last_page
            rows, _ = grid_page(connection, self.experiment_id, grid, size, page * page_size, page_size)
        return rows, page, count

    def _page_first(
        self, connection, grid: GridFilter, size: GridSize, page: int, page_size: int
    ) -> tuple[list[int], int, int | None] | None:
        """Page ``page`` found range by range, or among the best scored rows, when it is there (else None)."""
        offset = page * page_size
        if read_in_ranges(grid):
            rows, found = grid_page_in_ranges(
                connection, self.experiment_id, grid, size, offset, page_size, self.row_count
            )
            return (rows, page, found) if found is None or rows or page == 0 else None
        if sorted_by_score_alone(grid):
            scored = grid_page_by_score(connection, self.experiment_id, grid, size, offset, page_size, self.row_count)
            return None if scored is None else (scored, page, None)
        return None

    def _index_page(
        self, connection, grid: GridFilter, size: GridSize, page: int, page_size: int
    ) -> tuple[list[int], int, int]:
        matching = self._cells(connection, size).matching(grid, self.variant_ids)
        page = min(page, _page_count(len(matching), page_size) - 1)
        return [int(index) for index in matching[page * page_size : (page + 1) * page_size]], page, len(matching)

    def _cells(self, connection, size: GridSize) -> CellIndex:
        """The cell index, read at the first count of a filter on statuses and scores (on the widget's
        background thread), or at the first such page that cannot be found otherwise; read once."""
        with self.reading_cells:
            if self.cells is None:
                stored = [name for shown, name in self.evaluators.items() if shown != RATING]
                self.cells = CellIndex.read(connection, self.experiment_id, size.repeated, self.variant_ids, stored)
            return self.cells


class StoredGrid(GridLayout):
    """The grid of a stored experiment, filtered, sorted and paged in the store: a page reads the runs of
    its rows only, and word diffs are computed for them only."""

    def __init__(self, source: GridSource, size: GridSize):
        super().__init__(source.variants, source.input_columns, list(source.evaluators))
        self.source, self.size = source, size
        self._counts: dict[GridFilter, int] = {}

    @property
    def finished(self) -> int:
        return self.size.cells

    def set_rating(self, run_id: str, value: int, note: str | None) -> None:
        """Nothing to keep: the next page is read from the store, rating included."""

    def page(self, query: GridQuery, counted: bool = True) -> dict[str, Any]:
        page_size = max(1, query.page_size)
        grid = self._grid_filter(query)
        state, rows, page, matching = self.source.page(grid, self.size, max(0, query.page), page_size, counted)
        if matching is None:
            matching = self._counts.get(grid)
        return self._page_view([state.rows[index] for index in rows], page, page_size, matching, self.size.rows, query)

    def count(self, query: GridQuery) -> dict[str, Any]:
        """What a view left ``counting`` by ``page`` becomes once the rows ``query`` keeps are counted (once
        a filter: the next pages of a search are not counted again)."""
        grid = self._grid_filter(query)
        if grid not in self._counts:
            self._counts[grid] = self.source.count(grid, self.size)
        matching = self._counts[grid]
        return {"matching": matching, "counting": False, "page_count": _page_count(matching, max(1, query.page_size))}

    def _grid_filter(self, query: GridQuery) -> GridFilter:
        stored = self.source.evaluators
        sorted_by = self._sorted_by(query)
        return GridFilter(
            errors_only=query.errors_only,
            failed_checks=tuple(stored[name] for name in self._checks(query.failed_check)),
            disagree_on=tuple(stored[name] for name in self.evaluators)
            if query.disagree_only and self.compares_variants
            else None,
            search=query.search,
            search_keys=tuple(self.source.input_keys),
            sort_evaluator=stored[sorted_by[0]] if sorted_by else None,
            sort_variant_id=self.source.variant_ids[self.variants.index(sorted_by[1])] if sorted_by else None,
            descending=query.descending,
        )


def has_run_error(row: GridRow) -> bool:
    return any(cell["status"] == RunStatus.ERROR for cell in row.cells.values())


def failed_a_check(row: GridRow, evaluators: Sequence[str]) -> bool:
    """A check failed when a run that ran scored 0 on it (a run error is not a failed check)."""
    ran = [cell for cell in row.cells.values() if cell["status"] == RunStatus.OK]
    return any(cell["scores"].get(name) == 0 for cell in ran for name in evaluators)


def variants_disagree(row: GridRow, evaluators: Sequence[str]) -> bool:
    """Variants disagree when their runs differ in status, in any score, or (without evaluators)
    in their outputs once case and spacing are ignored."""
    cells = list(row.cells.values())
    if len(cells) < 2:
        return False
    if len({cell["status"] for cell in cells}) > 1:
        return True
    if evaluators:
        return any(len({cell["scores"].get(name) for cell in cells}) > 1 for name in evaluators)
    return len({" ".join((cell["output"] or "").split()).casefold() for cell in cells}) > 1


def chart_series(summary: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One bar chart per evaluator of ``summary_rows``: a bar per variant with its label, mean, CI and the
    text written next to it (a mean of 0 is a bar too), and the top of the scale (at least 1)."""
    names = [score["name"] for score in summary[0]["scores"]] if summary else []
    charts = []
    for index, name in enumerate(names):
        bars = [_bar(variant["variant"], variant["scores"][index]) for variant in summary]
        ends = [value for bar in bars for value in (bar["mean"], bar["high"]) if value is not None]
        charts.append({"evaluator": name, "top": max([1.0, *ends]), "bars": bars})
    return charts


def _bar(variant: str, score: dict[str, Any]) -> dict[str, Any]:
    mean, low, high = score["mean"], score["low"], score["high"]
    if mean is None:
        text = "no score"
    elif low is None or high is None:
        text = f"{mean:.2f}"
    else:
        text = f"{mean:.2f} [{low:.2f}, {high:.2f}]"
    return {"variant": variant, "mean": mean, "low": low, "high": high, "text": text}


def summary_rows(summary: pd.DataFrame, evaluators: Sequence[str]) -> list[dict[str, Any]]:
    """Per variant, from ``experiment_summary`` of the runs that ran: runs, error rate, latency and each
    score with its CI; the runs cancelled; the cost of the answered runs with a known price, and how many
    answered runs have no known price (a run error is no answer to pay for)."""
    counts = summary.attrs["counts"]
    scored = [name for name in evaluators if name in summary.columns]
    return [
        {
            "variant": str(variant),
            "runs": int(values["runs"]),
            "cancelled_runs": int(counts.loc[variant, "cancelled_runs"]),
            "error_rate": _number(values["error_rate"]),
            "cost": float(counts.loc[variant, "answered_cost"]),
            "unpriced": int(counts.loc[variant, "unpriced"]),
            "latency_p50_ms": _number(values["latency_p50_ms"]),
            "scores": [
                {
                    "name": name,
                    "mean": _number(values[name]),
                    "low": _number(values[f"{name} ci_low"]),
                    "high": _number(values[f"{name} ci_high"]),
                    "verdict": str(values[f"{name} vs best"] or ""),
                }
                for name in scored
            ],
        }
        for variant, values in summary.iterrows()
    ]


def cell_from_record(record: dict[str, Any], variant: str) -> dict[str, Any]:
    """A cell from a run record as the runner reports it (no scores yet: they arrive with a refresh)."""
    cell = {column: record.get(column) for column in CELL_COLUMNS if column not in ("run_id", "variant")}
    return {
        **_plain(cell),
        "run_id": record["id"],
        "variant": variant,
        "row_index": record["row_index"],
        "scores": {},
        "reasons": {},
        "rating": None,
        "rating_note": None,
        "failed_output": None,
    }


def repeat_passed(cell: dict[str, Any]) -> bool:
    """A repeat passes when it ran and no check scored 0 on it."""
    return cell["status"] == RunStatus.OK and not any(value == 0 for value in cell["scores"].values())


def _repeats_view(repeats: dict[int, dict[str, Any]], baseline_text: str | None) -> dict[str, Any] | None:
    """The first repeat of a cell as the cell, with every repeat in ``repeats`` and how many passed."""
    if not repeats:
        return None
    views = [_cell_view(repeats[repeat], baseline_text) for repeat in sorted(repeats)]
    passed = sum(repeat_passed(cell) for cell in repeats.values())
    return {**views[0], "repeats": views, "passed": passed, "repeat_count": len(views)}


def _cell_view(cell: dict[str, Any], baseline_text: str | None) -> dict[str, Any]:
    diff = None
    if baseline_text is not None and cell["status"] == RunStatus.OK and cell["output"] is not None:
        diff = [list(segment) for segment in word_diff(baseline_text, cell["output"])]
    return {**cell, "diff": diff}


def _cell_records(runs: pd.DataFrame, evaluators: Sequence[str]) -> list[dict[str, Any]]:
    rating_columns = [column for column in (RATING, "rating_note") if column in runs.columns]
    reasons = {name: f"{name} reason" for name in evaluators if f"{name} reason" in runs.columns}
    columns = ["row_index", *CELL_COLUMNS, *evaluators, *reasons.values(), *rating_columns]
    records = frame_records(runs[columns])
    for record in records:
        record["scores"] = {name: record.pop(name) for name in evaluators}
        record["reasons"] = {name: record.pop(reasons[name]) if name in reasons else None for name in evaluators}
        rated = record.get(RATING) or None
        record[RATING] = None if rated is None else int(rated)
        record["rating_note"] = record.get("rating_note") if rated else None
        record["failed_output"] = None
        record["row_index"] = int(record["row_index"])
    return records


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value.item() if hasattr(value, "item") else value for key, value in record.items()}


def _page_count(rows: int, page_size: int) -> int:
    return max(1, math.ceil(rows / page_size))


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _rows_stopped_at_a_step(runs: pd.DataFrame) -> list[int]:
    """The data rows with a pipeline run that stopped at a failed step: only those have a step's answer to
    show, so a page without one reads no steps."""
    return sorted({int(index) for index in runs.loc[runs["failed_step"].notna(), "row_index"]})
