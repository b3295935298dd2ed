"""Experiments in the store: creation with their variants and rows, status, what is done or missing."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pandas as pd
from sqlalchemy import func, select, update

from promptlab_nb.core import errors
from promptlab_nb.core.ids import new_id, this_session, utcnow
from promptlab_nb.core.vocabulary import ExperimentStatus, Mode, RunStatus
from promptlab_nb.engine.matrix import VariantPlan
from promptlab_nb.schemas.experiment_records import ExperimentRecord, VariantRecord, storable_settings
from promptlab_nb.services.versioning import NAME_PATTERN
from promptlab_nb.store.bulk import delete_where_in, insert_records
from promptlab_nb.store.database import Database
from promptlab_nb.store.models import (
    ExperimentRow,
    IndexedTexts,
    Rating,
    Run,
    RunStep,
    Score,
    StoredExperiment,
    Variant,
)
from promptlab_nb.store.text_grams import INPUTS, add_texts, input_texts

LIST_COLUMNS = ["name", "status", "mode", "variants", "rows", "repeats", "runs", "errors", "cost", "created"]
HOST = socket.gethostname()
_RUNNING_HERE: set[str] = set()


@contextmanager
def claim_token() -> Iterator[str]:
    """A token to claim experiments with, counted as running in this process until the block ends."""
    token = new_id()
    _RUNNING_HERE.add(token)
    try:
        yield token
    finally:
        _RUNNING_HERE.discard(token)


@contextmanager
def claimed(database: Database, experiment_id: str, stale_after: float) -> Iterator[str]:
    """Hold the claim on an experiment for the block (e.g. a batch submit or refresh): ``ExperimentBusy``
    when another live session holds it; released when the block ends. Yields the claim's token."""
    with claim_token() as token:
        with database.session() as session:
            ExperimentService(session).claim(experiment_id, token, stale_after)
        try:
            yield token
        finally:
            with database.connection() as connection:
                ExperimentService.release(connection, experiment_id, token)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_is_live(experiment: StoredExperiment, stale_after: float) -> bool:
    """Whether the session that claimed ``experiment`` still runs it: one of this process while its run
    goes on, one of another process on this host while that process exists and beats, any other while
    its heartbeat is younger than ``stale_after`` seconds."""
    if experiment.claim_token is None or experiment.heartbeat_at is None:
        return False
    if experiment.claim_host == HOST and experiment.claim_pid == os.getpid():
        return experiment.claim_token in _RUNNING_HERE
    if experiment.claim_host == HOST and experiment.claim_pid is not None and not _process_exists(experiment.claim_pid):
        return False
    return utcnow() - experiment.heartbeat_at < timedelta(seconds=stale_after)


class ExperimentService:
    def __init__(self, session):
        self.session = session

    def unique_name(self, base: str) -> str:
        taken = set(self.session.scalars(select(StoredExperiment.name).where(StoredExperiment.name.like(f"{base}%"))))
        if base not in taken:
            return base
        suffix = 2
        while f"{base}-{suffix}" in taken:
            suffix += 1
        return f"{base}-{suffix}"

    def create(
        self,
        name: str,
        variants: Sequence[VariantPlan],
        rows: list[dict[str, Any]],
        repeats: int,
        settings: dict[str, Any],
        mode: Mode = Mode.LIVE,
    ) -> ExperimentRecord:
        if not NAME_PATTERN.match(name):
            raise errors.InvalidName("Experiment", name)
        if self.session.scalar(select(StoredExperiment.id).where(StoredExperiment.name == name)):
            raise errors.ExperimentNameTaken(name)
        experiment = StoredExperiment(
            id=new_id(),
            name=name,
            status=ExperimentStatus.CREATED,
            mode=mode,
            repeats=repeats,
            row_count=len(rows),
            settings=storable_settings(settings),
        )
        self.session.add(experiment)
        self.session.add_all(
            Variant(id=new_id(), experiment_id=experiment.id, position=position, **plan.stored_fields())
            for position, plan in enumerate(variants)
        )
        self.session.flush()
        connection = self.session.connection()
        insert_records(
            connection,
            ExperimentRow.__table__,
            [{"experiment_id": experiment.id, "row_index": index, "inputs": row} for index, row in enumerate(rows)],
        )
        add_texts(connection, INPUTS, input_texts(experiment.id, enumerate(rows)))
        self.session.add(IndexedTexts(experiment_id=experiment.id))
        return self.get(name)

    def _experiment(self, name: str) -> StoredExperiment:
        experiment = self.session.scalar(select(StoredExperiment).where(StoredExperiment.name == name))
        if experiment is None:
            raise errors.ExperimentNotFound(name)
        return experiment

    def get(self, name: str) -> ExperimentRecord:
        experiment = self._experiment(name)
        variants = self.session.scalars(
            select(Variant).where(Variant.experiment_id == experiment.id).order_by(Variant.position)
        )
        return ExperimentRecord(
            id=experiment.id,
            name=experiment.name,
            status=ExperimentStatus(experiment.status),
            mode=Mode(experiment.mode),
            repeats=experiment.repeats,
            row_count=experiment.row_count,
            settings=experiment.settings or {},
            created_at=experiment.created_at,
            updated_at=experiment.updated_at,
            variants=[VariantRecord.model_validate(variant, from_attributes=True) for variant in variants],
        )

    def set_status(self, experiment_id: str, status: ExperimentStatus) -> None:
        self.mark(self.session.connection(), experiment_id, status)

    @staticmethod
    def mark(connection, experiment_id: str, status: ExperimentStatus) -> None:
        """Set the status within a bulk write's connection (the last write of a run)."""
        connection.execute(
            update(StoredExperiment)
            .where(StoredExperiment.id == experiment_id)
            .values(status=status, updated_at=utcnow())
        )

    def claim(self, experiment_id: str, token: str, stale_after: float) -> None:
        """Claim the experiment for this session, taking over a claim that is no longer live; ``ExperimentBusy``
        naming the owner when another session runs it. On PostgreSQL the row is locked until the
        unit of work ends, so of two sessions claiming at once the second sees the first's claim."""
        query = (
            select(StoredExperiment)
            .where(StoredExperiment.id == experiment_id)
            .execution_options(populate_existing=True)
        )
        if self.session.bind.dialect.name == "postgresql":
            query = query.with_for_update()
        experiment = self.session.scalars(query).one()
        if claim_is_live(experiment, stale_after):
            raise errors.ExperimentBusy(experiment.name, experiment.claimed_by or "another session")
        taken = self.session.execute(
            update(StoredExperiment)
            .where(
                StoredExperiment.id == experiment_id,
                StoredExperiment.claim_token.is_not_distinct_from(experiment.claim_token),
            )
            .values(
                claimed_by=this_session(),
                claim_token=token,
                claim_host=HOST,
                claim_pid=os.getpid(),
                heartbeat_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:
            raise errors.ExperimentBusy(experiment.name, "another session")

    @staticmethod
    def heartbeat(connection, experiment_id: str, token: str) -> None:
        connection.execute(
            update(StoredExperiment)
            .where(StoredExperiment.id == experiment_id, StoredExperiment.claim_token == token)
            .values(heartbeat_at=utcnow())
        )

    @staticmethod
    def release(connection, experiment_id: str, token: str) -> None:
        connection.execute(
            update(StoredExperiment)
            .where(StoredExperiment.id == experiment_id, StoredExperiment.claim_token == token)
            .values(claimed_by=None, claim_token=None, claim_host=None, claim_pid=None, heartbeat_at=None)
        )

    def rows(self, experiment_id: str) -> list[dict[str, Any]]:
        query = (
            select(ExperimentRow.inputs)
            .where(ExperimentRow.experiment_id == experiment_id)
            .order_by(ExperimentRow.row_index)
        )
        return list(self.session.scalars(query))

    def finished_cells(self, experiment_id: str) -> set[tuple[str, int, int]]:
        query = select(Run.variant_id, Run.row_index, Run.repeat).where(
            Run.experiment_id == experiment_id, Run.status == RunStatus.OK
        )
        return {tuple(row) for row in self.session.execute(query)}

    def clear_unfinished(self, experiment_id: str) -> int:
        """Remove failed and cancelled runs (with their steps and scores) so they can run again."""
        run_ids = list(
            self.session.scalars(select(Run.id).where(Run.experiment_id == experiment_id, Run.status != RunStatus.OK))
        )
        connection = self.session.connection()
        for table, column in ((RunStep, "run_id"), (Score, "run_id"), (Rating, "run_id"), (Run, "id")):
            delete_where_in(connection, table.__table__, column, run_ids)
        return len(run_ids)

    def status_counts(self, experiment_id: str) -> dict[str, int]:
        query = select(Run.status, func.count()).where(Run.experiment_id == experiment_id).group_by(Run.status)
        return {status: count for status, count in self.session.execute(query)}

    def list(self) -> pd.DataFrame:
        query = (
            select(
                StoredExperiment.name,
                StoredExperiment.status,
                StoredExperiment.mode,
                select(func.count())
                .where(Variant.experiment_id == StoredExperiment.id)
                .scalar_subquery()
                .label("variants"),
                StoredExperiment.row_count.label("rows"),
                StoredExperiment.repeats,
                func.count(Run.id).label("runs"),
                func.count(Run.id).filter(Run.status == RunStatus.ERROR).label("errors"),
                func.sum(Run.cost).label("cost"),
                StoredExperiment.created_at.label("created"),
            )
            .outerjoin(Run, Run.experiment_id == StoredExperiment.id)
            .group_by(
                StoredExperiment.id,
                StoredExperiment.name,
                StoredExperiment.status,
                StoredExperiment.mode,
                StoredExperiment.row_count,
                StoredExperiment.repeats,
                StoredExperiment.created_at,
            )
            .order_by(StoredExperiment.created_at.desc())
        )
        return pd.DataFrame([dict(row._mapping) for row in self.session.execute(query)], columns=LIST_COLUMNS)
