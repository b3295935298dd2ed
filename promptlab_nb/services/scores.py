"""Scores and human ratings in the store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select

from promptlab_nb.core.errors import InvalidData, RunNotFound
from promptlab_nb.core.ids import new_id, utcnow
from promptlab_nb.core.vocabulary import RunStatus
from promptlab_nb.evaluation.assertions import RunFacts
from promptlab_nb.store.bulk import insert_records
from promptlab_nb.store.models import ExperimentRow, Rating, Run, Score

RATING_VALUES = (-1, 0, 1)


class ScoreService:
    def __init__(self, session):
        self.session = session

    def finished_runs(self, experiment_id: str) -> list[dict[str, Any]]:
        """Successful runs with their output, the data row they used, and their latency, cost and cache hit."""
        query = (
            select(Run.id, Run.output, Run.parsed, ExperimentRow.inputs, Run.latency_ms, Run.cost, Run.cache_hit)
            .join(
                ExperimentRow,
                (ExperimentRow.experiment_id == Run.experiment_id) & (ExperimentRow.row_index == Run.row_index),
            )
            .where(Run.experiment_id == experiment_id, Run.status == RunStatus.OK)
        )
        return [
            {
                "id": run_id,
                "output": output,
                "parsed": parsed,
                "inputs": inputs or {},
                "facts": RunFacts(latency_ms, cost, bool(cache_hit)),
            }
            for run_id, output, parsed, inputs, latency_ms, cost, cache_hit in self.session.execute(query)
        ]

    def replace(self, experiment_id: str, evaluators: Sequence[str], records: list[dict[str, Any]]) -> None:
        """Store new scores, replacing earlier scores of the same evaluators in this experiment."""
        self.session.execute(
            delete(Score).where(Score.experiment_id == experiment_id, Score.evaluator.in_(list(evaluators)))
        )
        insert_records(self.session.connection(), Score.__table__, records)

    def rate(self, experiment_id: str, run_id: str, value: int, note: str | None) -> dict[str, Any]:
        if value not in RATING_VALUES:
            raise InvalidData(f"Rate with +1 (good), -1 (bad) or 0 (clear), not {value!r}.")
        found = self.session.scalar(select(Run.id).where(Run.id == run_id, Run.experiment_id == experiment_id))
        if found is None:
            raise RunNotFound(run_id)
        rating = Rating(
            id=new_id(), experiment_id=experiment_id, run_id=run_id, value=value, note=note, created_at=utcnow()
        )
        self.session.add(rating)
        return {"run_id": run_id, "value": value, "note": note}
