"""Where finished runs go: buffered in memory and written to the store in bulk."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from promptlab_nb.engine.cache import ResponseCache
from promptlab_nb.store.bulk import insert_records
from promptlab_nb.store.database import Database
from promptlab_nb.store.models import Run, RunStep, Score


class RunSink:
    """Writes runs, their steps, scores and new cache entries together, every ``batch_size`` runs
    or ``interval`` seconds, off the event loop. With ``skip_stored_runs`` a run whose cell is
    already stored is left out (the run table's unique cell), so storing the same results twice is harmless."""

    def __init__(
        self,
        database: Database,
        cache: ResponseCache,
        *,
        batch_size: int = 5_000,
        interval: float = 2.0,
        skip_stored_runs: bool = False,
    ):
        self._database, self._cache = database, cache
        self._skip_stored_runs = skip_stored_runs
        self._batch_size, self._interval = batch_size, interval
        self._runs: list[dict[str, Any]] = []
        self._steps: list[dict[str, Any]] = []
        self._scores: list[dict[str, Any]] = []
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        self._flushing: asyncio.Task | None = None
        self.written = 0

    def add(self, run: dict[str, Any], steps: list[dict[str, Any]], scores: list[dict[str, Any]]) -> None:
        with self._lock:
            self._runs.append(run)
            self._steps.extend(steps)
            self._scores.extend(scores)

    async def maybe_flush(self) -> None:
        due = len(self._runs) >= self._batch_size or time.monotonic() - self._last_flush >= self._interval
        if due and (self._flushing is None or self._flushing.done()):
            self._last_flush = time.monotonic()
            self._flushing = asyncio.ensure_future(asyncio.to_thread(self.flush))

    async def finish(self, last_write: Callable[[Connection], None] | None = None) -> None:
        """Wait for a flush under way, then write what is left together with ``last_write``."""
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
        await asyncio.to_thread(self.flush, last_write)

    def flush(self, last_write: Callable[[Connection], None] | None = None) -> None:
        with self._lock:
            runs, steps, scores = self._runs, self._steps, self._scores
            self._runs, self._steps, self._scores = [], [], []
            cache_entries = self._cache.take_pending()
        if not (runs or cache_entries or last_write):
            return
        with self._database.connection() as connection:
            insert_records(connection, Run.__table__, runs, skip_existing=self._skip_stored_runs)
            insert_records(connection, RunStep.__table__, steps)
            insert_records(connection, Score.__table__, scores)
            ResponseCache.write(connection, cache_entries)
            if last_write is not None:
                last_write(connection)
        self.written += len(runs)
