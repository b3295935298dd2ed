"""Reading what a report shows of an experiment: its first data rows with every run, score, rating and
failed step's answer, a page of rows at a time, and which rows are left out beyond the limit."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from promptlab_nb.core.errors import InvalidData
from promptlab_nb.core.vocabulary import RunStatus
from promptlab_nb.evaluation.analysis import RATING
from promptlab_nb.schemas.report_records import ReportRow, ReportRows
from promptlab_nb.services.results import score_columns
from promptlab_nb.store.models import ExperimentRow, Rating, Run, RunStep, Score, Variant

READ_PAGE_ROWS = 1000
RUN_FIELDS = (
    Run.id,
    Variant.position,
    Run.row_index,
    Run.repeat,
    Run.status,
    Run.output,
    Run.error,
    Run.failed_step,
    Run.latency_ms,
    Run.input_tokens,
    Run.output_tokens,
    Run.cost,
    Run.cache_hit,
)


class ReportRowsService:
    def __init__(self, session: Session):
        self.session = session

    def rows(self, experiment_id: str, max_rows: int) -> ReportRows:
        """The first ``max_rows`` data rows in row order with their cells, read ``READ_PAGE_ROWS`` at a time,
        so a report of a large experiment never holds more than its own rows. A page's runs are found by
        variant and row index, the store's unique index on runs."""
        if max_rows < 1:
            raise InvalidData(f"A report shows at least one row; max_rows must be 1 or more, not {max_rows}.")
        evaluators = self._evaluators(experiment_id)
        rows: list[ReportRow] = []
        after = -1
        while len(rows) < max_rows:
            page = self._data_rows(experiment_id, after, min(READ_PAGE_ROWS, max_rows - len(rows)))
            if not page:
                break
            rows += self._with_cells(experiment_id, page, evaluators)
            after = page[-1][0]
        total, last = self._row_extent(experiment_id)
        left_out = (after + 1, last) if total > len(rows) else (None, None)
        return ReportRows(rows, _input_columns(rows), list(evaluators.values()), total, *left_out)

    def _evaluators(self, experiment_id: str) -> dict[str, str]:
        """Evaluator -> the name its scores are shown as, in the order of ``exp.runs``'s columns."""
        shown = score_columns(self.session.connection(), experiment_id)
        return {name: column for name, column in shown.items() if column != RATING}

    def _data_rows(self, experiment_id: str, after: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        query = (
            select(ExperimentRow.row_index, ExperimentRow.inputs)
            .where(ExperimentRow.experiment_id == experiment_id, ExperimentRow.row_index > after)
            .order_by(ExperimentRow.row_index)
            .limit(limit)
        )
        return [(row_index, inputs or {}) for row_index, inputs in self.session.execute(query)]

    def _row_extent(self, experiment_id: str) -> tuple[int, int | None]:
        query = select(func.count(), func.max(ExperimentRow.row_index)).where(
            ExperimentRow.experiment_id == experiment_id
        )
        count, last = self.session.execute(query).one()
        return int(count), last

    def _with_cells(
        self, experiment_id: str, page: Sequence[tuple[int, dict[str, Any]]], evaluators: dict[str, str]
    ) -> list[ReportRow]:
        first, last = page[0][0], page[-1][0]
        variants = select(Variant.id).where(Variant.experiment_id == experiment_id)
        in_page = (
            (Run.experiment_id == experiment_id) & Run.variant_id.in_(variants) & Run.row_index.between(first, last)
        )
        cells = self._cells(in_page)
        self._add_scores(cells, in_page, evaluators)
        self._add_ratings(cells, in_page)
        self._add_failed_answers(cells, in_page)
        by_row: dict[int, list[dict[str, Any]]] = {}
        for cell in cells.values():
            by_row.setdefault(cell.pop("row_index"), []).append(cell)
        return [ReportRow(row_index, inputs, by_row.get(row_index, [])) for row_index, inputs in page]

    def _cells(self, in_page) -> dict[str, dict[str, Any]]:
        query = (
            select(*RUN_FIELDS)
            .join(Variant, Variant.id == Run.variant_id)
            .where(in_page)
            .order_by(Run.row_index, Variant.position, Run.repeat)
        )
        cells = {}
        for run in self.session.execute(query):
            cells[run.id] = {
                "variant": run.position,
                "run_id": run.id,
                "row_index": run.row_index,
                "repeat": run.repeat,
                "status": run.status,
                "output": run.output,
                "error": run.error,
                "failed_step": run.failed_step,
                "latency_ms": _number(run.latency_ms),
                "input_tokens": run.input_tokens,
                "output_tokens": run.output_tokens,
                "cost": _number(run.cost),
                "cache_hit": bool(run.cache_hit),
                "scores": {},
                "reasons": {},
                "rating": None,
                "rating_note": None,
                "failed_output": None,
            }
        return cells

    def _add_scores(self, cells: dict[str, dict[str, Any]], in_page, evaluators: dict[str, str]) -> None:
        """The latest score of each evaluator on each run, with its reason, under the evaluator's shown name."""
        query = (
            select(Score.run_id, Score.evaluator, Score.value, Score.reason)
            .join(Run, Run.id == Score.run_id)
            .where(in_page)
            .order_by(Score.created_at)
        )
        for run_id, evaluator, value, reason in self.session.execute(query):
            cell, shown = cells.get(run_id), evaluators.get(evaluator)
            if cell is not None and shown is not None:
                cell["scores"][shown] = _number(value)
                cell["reasons"][shown] = reason

    def _add_ratings(self, cells: dict[str, dict[str, Any]], in_page) -> None:
        query = (
            select(Rating.run_id, Rating.value, Rating.note)
            .join(Run, Run.id == Rating.run_id)
            .where(in_page)
            .order_by(Rating.created_at)
        )
        for run_id, value, note in self.session.execute(query):
            cell = cells.get(run_id)
            if cell is not None:
                cell["rating"], cell["rating_note"] = (value or None), (note if value else None)

    def _add_failed_answers(self, cells: dict[str, dict[str, Any]], in_page) -> None:
        """What the model answered at the step each failed pipeline run stopped at (when it answered)."""
        query = (
            select(RunStep.run_id, RunStep.output)
            .join(Run, Run.id == RunStep.run_id)
            .where(in_page, Run.failed_step.is_not(None), RunStep.status != RunStatus.OK, RunStep.output.is_not(None))
        )
        for run_id, output in self.session.execute(query):
            cell = cells.get(run_id)
            if cell is not None:
                cell["failed_output"] = output


def _input_columns(rows: Sequence[ReportRow]) -> list[str]:
    return list(dict.fromkeys(str(column) for row in rows for column in row.inputs))


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
