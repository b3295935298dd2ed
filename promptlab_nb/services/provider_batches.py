"""Provider batches in the store: what was submitted for an experiment, where each batch stands,
and which cells still await an answer. A batch carries runs, or a judge's requests (``judging``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, select, update

from promptlab_nb.core.ids import new_id, utcnow
from promptlab_nb.core.vocabulary import BatchStatus, ExperimentStatus, Mode
from promptlab_nb.engine.batch_answers import CellId
from promptlab_nb.engine.providers.batch_api import BatchIntent, BatchOutcome, BatchState
from promptlab_nb.schemas.experiment_records import ExperimentRecord
from promptlab_nb.store.models import ProviderBatch, Run, StoredExperiment

LIST_COLUMNS = [
    "experiment",
    "provider",
    "model",
    "judge",
    "batch_id",
    "status",
    "requests",
    "succeeded",
    "failed",
    "submitted",
    "finished",
    "collected",
    "error",
]


@dataclass(frozen=True)
class StoredBatch:
    id: str
    experiment_id: str
    provider: str
    model: str
    provider_batch_id: str | None
    status: str
    custom_ids: list[str]
    submitted_at: datetime
    collected_at: datetime | None
    judging: dict[str, Any] | None = None

    @property
    def judge(self) -> str | None:
        """The name of the judge whose requests this batch carries; None for a batch of runs."""
        return self.judging["judge"]["name"] if self.judging else None

    @property
    def cells(self) -> list[CellId]:
        return [cell for cell in map(CellId.parse, self.custom_ids) if cell is not None]

    def intent(self, claimed: frozenset[str] = frozenset()) -> BatchIntent:
        return BatchIntent(self.id, self.experiment_id, len(self.custom_ids), self.submitted_at, claimed)


@dataclass
class FinishedBatch:
    """A batch the provider finished with, and its answer to each request by custom id."""

    batch: StoredBatch
    state: BatchState
    outcomes: dict[str, BatchOutcome]

    def outcome_of(self, custom_id: str) -> BatchOutcome:
        """The answer to one request, or why the batch ended without one."""
        return self.outcomes.get(custom_id) or self._unanswered(custom_id)

    def _unanswered(self, custom_id: str) -> BatchOutcome:
        batch, reason = self.batch, f": {self.state.error}" if self.state.error else ""
        ended = f"{batch.provider} batch {batch.provider_batch_id or '(never submitted)'} {self.state.status}"
        return BatchOutcome(custom_id, error=f"{ended} without an answer to this request{reason}")


class BatchService:
    def __init__(self, session):
        self.session = session

    def record_intent(
        self,
        experiment_id: str,
        provider: str,
        model: str,
        custom_ids: list[str],
        judging: dict[str, Any] | None = None,
    ) -> StoredBatch:
        """Record a batch about to be submitted, so that it is found again should the kernel die
        before the provider's answer is recorded (see ``confirm``); ``judging`` for a judge's requests."""
        batch = ProviderBatch(
            id=new_id(),
            experiment_id=experiment_id,
            provider=provider,
            model=model,
            provider_batch_id=None,
            status=BatchStatus.SUBMITTING,
            request_count=len(custom_ids),
            succeeded=0,
            failed=0,
            custom_ids=custom_ids,
            judging=judging,
            submitted_at=utcnow(),
        )
        self.session.add(batch)
        self.session.flush()
        return _stored(batch)

    def confirm(self, batch_id: str, state: BatchState) -> None:
        """Record the provider's batch for an intent: its id and where it stands."""
        self.session.execute(
            update(ProviderBatch)
            .where(ProviderBatch.id == batch_id)
            .values(provider_batch_id=state.batch_id, **_state_values(state))
        )

    def claimed(self, provider: str) -> frozenset[str]:
        """The ids of every batch of ``provider`` the store holds."""
        query = select(ProviderBatch.provider_batch_id).where(
            ProviderBatch.provider == provider, ProviderBatch.provider_batch_id.is_not(None)
        )
        return frozenset(self.session.scalars(query))

    @staticmethod
    def mark_refused(connection: Connection, batch_id: str, reason: str) -> None:
        """Mark an intent the provider refused as failed and collected, within the bulk write that stores
        its requests as failed runs."""
        connection.execute(
            update(ProviderBatch)
            .where(ProviderBatch.id == batch_id)
            .values(status=BatchStatus.FAILED, error=reason, finished_at=utcnow(), collected_at=utcnow())
        )

    @staticmethod
    def mark_batch_mode(connection: Connection, experiment_id: str, status: ExperimentStatus) -> None:
        """Set the mode and status within a bulk write's connection."""
        connection.execute(
            update(StoredExperiment)
            .where(StoredExperiment.id == experiment_id)
            .values(mode=Mode.BATCH, status=status, updated_at=utcnow())
        )

    def uncollected(self, experiment_id: str) -> list[StoredBatch]:
        """Batches whose results are not stored yet, oldest first."""
        query = (
            select(ProviderBatch)
            .where(ProviderBatch.experiment_id == experiment_id, ProviderBatch.collected_at.is_(None))
            .order_by(ProviderBatch.submitted_at)
        )
        return [_stored(batch) for batch in self.session.scalars(query)]

    def awaited_cells(self, experiment: ExperimentRecord) -> set[tuple[str, int, int]]:
        """(variant id, row, repeat) of every cell in a batch whose results are not stored yet."""
        variant_ids = [variant.id for variant in experiment.variants]
        return {
            (variant_ids[cell.variant], cell.row, cell.repeat)
            for batch in self.uncollected(experiment.id)
            for cell in batch.cells
            if cell.variant < len(variant_ids)
        }

    def stored_cells(self, experiment_id: str) -> set[tuple[str, int, int]]:
        """(variant id, row, repeat) of every cell with a stored run, whatever its status."""
        query = select(Run.variant_id, Run.row_index, Run.repeat).where(Run.experiment_id == experiment_id)
        return {tuple(row) for row in self.session.execute(query)}

    def update_state(self, batch_id: str, state: BatchState) -> None:
        self.session.execute(
            update(ProviderBatch)
            .where(ProviderBatch.id == batch_id, ProviderBatch.finished_at.is_(None))
            .values(**_state_values(state))
        )

    @staticmethod
    def mark_collected(connection: Connection, batch_ids: list[str]) -> None:
        """Mark batches collected within the bulk write that stores their runs, so both happen or neither."""
        if batch_ids:
            connection.execute(
                update(ProviderBatch).where(ProviderBatch.id.in_(batch_ids)).values(collected_at=utcnow())
            )

    def experiments_awaiting(self) -> list[str]:
        """Names of the experiments with batches whose results are not stored yet."""
        query = (
            select(StoredExperiment.name)
            .join(ProviderBatch, ProviderBatch.experiment_id == StoredExperiment.id)
            .where(ProviderBatch.collected_at.is_(None))
            .group_by(StoredExperiment.name)
            .order_by(StoredExperiment.name)
        )
        return list(self.session.scalars(query))

    def list(self, experiment_id: str | None = None) -> pd.DataFrame:
        """Every batch (of one experiment, or all), newest first."""
        query = (
            select(
                StoredExperiment.name.label("experiment"),
                ProviderBatch.provider,
                ProviderBatch.model,
                ProviderBatch.judging,
                ProviderBatch.provider_batch_id.label("batch_id"),
                ProviderBatch.status,
                ProviderBatch.request_count.label("requests"),
                ProviderBatch.succeeded,
                ProviderBatch.failed,
                ProviderBatch.submitted_at.label("submitted"),
                ProviderBatch.finished_at.label("finished"),
                ProviderBatch.collected_at.label("collected"),
                ProviderBatch.error,
            )
            .join(StoredExperiment, StoredExperiment.id == ProviderBatch.experiment_id)
            .order_by(ProviderBatch.submitted_at.desc())
        )
        if experiment_id is not None:
            query = query.where(ProviderBatch.experiment_id == experiment_id)
        listed = [_listed(dict(row._mapping)) for row in self.session.execute(query)]
        return pd.DataFrame(listed, columns=LIST_COLUMNS)


def _stored(batch: ProviderBatch) -> StoredBatch:
    return StoredBatch(
        id=batch.id,
        experiment_id=batch.experiment_id,
        provider=batch.provider,
        model=batch.model,
        provider_batch_id=batch.provider_batch_id,
        status=batch.status,
        custom_ids=list(batch.custom_ids or []),
        submitted_at=batch.submitted_at,
        collected_at=batch.collected_at,
        judging=batch.judging,
    )


def _listed(row: dict[str, Any]) -> dict[str, Any]:
    """A batch as listed: ``judge`` names the judge whose requests it carries (None: runs)."""
    judging = row.pop("judging")
    return {**row, "judge": judging["judge"]["name"] if judging else None}


def _state_values(state: BatchState) -> dict[str, Any]:
    values: dict[str, Any] = {
        "status": state.status,
        "succeeded": state.succeeded,
        "failed": state.failed,
        "error": state.error,
    }
    if state.finished:
        values["finished_at"] = utcnow()
    return values
