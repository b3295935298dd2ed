"""Keeping a store small: old entries of the response cache cleared, the file or tables compacted.

``lab.cache.prune(older_than="30d")`` and ``lab.vacuum()``; bench/bench_store_growth.py measures
what a million runs take on disk.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import cast

from sqlalchemy import CursorResult, delete, func, select, text
from sqlalchemy.orm import Session

from promptlab_nb.core.errors import InvalidData
from promptlab_nb.core.ids import utcnow
from promptlab_nb.store.database import Database
from promptlab_nb.store.models import CacheEntry
from promptlab_nb.store.text_grams import index_experiment, unindexed_experiments

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([wdhms])\s*$", re.IGNORECASE)
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_age(age: timedelta | str) -> timedelta:
    """A timedelta, or a number with a unit: ``"30d"``, ``"12h"``, ``"2w"``, ``"90m"``, ``"45s"``."""
    if isinstance(age, timedelta):
        found = age
    else:
        match = _AGE.match(age) if isinstance(age, str) else None
        if match is None:
            raise InvalidData(
                f"older_than is a timedelta or a number with a unit (w, d, h, m or s) such as '30d', not {age!r}."
            )
        found = timedelta(**{_UNITS[match.group(2).lower()]: float(match.group(1))})
    if found < timedelta(0):
        raise InvalidData(f"older_than cannot be negative ({found}); give an age such as '30d'.")
    return found


class CacheService:
    """The store's response cache: identical calls answered from it, by any experiment."""

    def __init__(self, session: Session):
        self.session = session

    def prune(self, older_than: timedelta | str) -> int:
        """Delete the cached responses stored more than ``older_than`` ago; returns how many.
        Runs keep their outputs: only a later identical call is sent to the provider again."""
        cutoff = utcnow() - parse_age(older_than)
        deleted = cast(CursorResult, self.session.execute(delete(CacheEntry).where(CacheEntry.created_at < cutoff)))
        return deleted.rowcount

    def count(self) -> int:
        """How many responses the cache holds."""
        return int(self.session.scalar(select(func.count()).select_from(CacheEntry)) or 0)


class StoreMaintenance:
    """Work on the whole store that no unit of work may enclose: PostgreSQL's VACUUM refuses to run
    inside a transaction, and DuckDB's CHECKPOINT writes every change into the file first."""

    def __init__(self, database: Database):
        self.database = database

    def vacuum(self) -> None:
        """Compact the store: DuckDB checkpoints (the blocks of deleted rows are freed for new ones,
        and the file shrinks where they end it) and refreshes its statistics; PostgreSQL reclaims the
        space of deleted rows and refreshes the planner's statistics (VACUUM ANALYZE). First, the texts of
        experiments stored by an older version are indexed, so that searching them skips blocks too."""
        self.index_texts()
        if self.database.is_duckdb:
            with self.database.connection() as connection:
                connection.execute(text("VACUUM ANALYZE"))
                connection.execute(text("CHECKPOINT"))
            return
        with self.database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))

    def index_texts(self) -> int:
        """Index the texts of every experiment stored before searches skipped blocks by their trigrams, one
        transaction each; returns how many were indexed."""
        with self.database.connection() as connection:
            experiment_ids = unindexed_experiments(connection)
        for experiment_id in experiment_ids:
            with self.database.connection() as connection:
                index_experiment(connection, experiment_id)
        return len(experiment_ids)
