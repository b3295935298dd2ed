"""Where finished runs go: buffered in memory and written to the store in bulk. A record leaves
the buffer only once the transaction that stores it is committed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from promptlab_nb.engine.cache import ResponseCache
from promptlab_nb.store.bulk import insert_records
from promptlab_nb.store.database import Database
from promptlab_nb.store.models import Run, RunStep, Score
from promptlab_nb.store.text_grams import SHOWN, add_texts, run_texts

if TYPE_CHECKING:
    from promptlab_nb.engine.run_rows import RunRecord

Write = Callable[[Connection], None]
ANALYZE_EVERY_RUNS = 10_000


@dataclass
class RunRecords:
    """Runs with their pipeline steps, scores and new cache entries, stored in one transaction."""

    runs: list[RunRecord] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    cache_entries: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.runs or self.steps or self.scores or self.cache_entries)

    def copy(self) -> RunRecords:
        return RunRecords(list(self.runs), list(self.steps), list(self.scores), list(self.cache_entries))

    def remove_written(self, written: RunRecords) -> None:
        """Drop what ``written`` (an earlier copy of these records) stored; records added since stay."""
        for name in ("runs", "steps", "scores", "cache_entries"):
            del getattr(self, name)[: len(getattr(written, name))]

    def write(self, connection: Connection, *, skip_stored_runs: bool = False) -> None:
        insert_records(connection, Run.__table__, self.runs, skip_existing=skip_stored_runs)
        add_texts(connection, SHOWN, run_texts(self.runs))
        insert_records(connection, RunStep.__table__, self.steps)
        insert_records(connection, Score.__table__, self.scores)
        ResponseCache.write(connection, self.cache_entries)


class RunSink:
    """Writes runs, their steps, scores and new cache entries together, every ``batch_size`` runs
    or ``interval`` seconds, off the event loop. With ``skip_stored_runs`` a run whose cell is
    already stored is left out (the run table's unique cell), so storing the same results twice is harmless.

    A write that fails (the store held by another process past its lock timeout) keeps its records
    buffered for the next one; only the last write, in ``finish``, raises. ``heartbeat`` goes with every
    write, and alone when ``heartbeat_every`` seconds passed without one."""

    def __init__(
        self,
        database: Database,
        cache: ResponseCache,
        *,
        batch_size: int = 5_000,
        interval: float = 2.0,
        skip_stored_runs: bool = False,
        heartbeat: Write | None = None,
        heartbeat_every: float = 30.0,
    ):
        self._database, self._cache = database, cache
        self._skip_stored_runs = skip_stored_runs
        self._batch_size, self.interval = batch_size, interval
        self._heartbeat, self._heartbeat_every = heartbeat, heartbeat_every
        self._pending = RunRecords()
        self._last_flush = self._last_write = time.monotonic()
        self._lock = threading.Lock()
        self._flushing: asyncio.Task | None = None
        self.written = 0
        self._unanalyzed = 0

    def add(self, run: RunRecord, steps: list[dict[str, Any]], scores: list[dict[str, Any]]) -> None:
        with self._lock:
            self._pending.runs.append(run)
            self._pending.steps.extend(steps)
            self._pending.scores.extend(scores)

    def add_scores(self, scores: list[dict[str, Any]]) -> None:
        with self._lock:
            self._pending.scores.extend(scores)

    async def maybe_flush(self) -> None:
        if self._flushing is not None:
            if not self._flushing.done():
                return
            self._settle(self._flushing)
        if self.flush_due():
            self._last_flush = time.monotonic()
            self._flushing = asyncio.ensure_future(asyncio.to_thread(self.flush))

    def _settle(self, flushing: asyncio.Task) -> None:
        """A failed flush kept its records for the next one: its error is read here, not left unread."""
        flushing.exception()
        self._flushing = None

    def flush_due(self) -> bool:
        """Whether ``maybe_flush`` would start a write, or settle the one under way."""
        if self._flushing is not None:
            return self._flushing.done()
        now = time.monotonic()
        return (
            len(self._pending.runs) >= self._batch_size
            or (bool(self._pending) and now - self._last_flush >= self.interval)
            or self._heartbeat_due(now)
        )

    def _heartbeat_due(self, now: float) -> bool:
        return self._heartbeat is not None and now - self._last_write >= self._heartbeat_every

    async def finish(self, last_write: Write | None = None) -> None:
        """Wait for a flush under way, then write what is left together with ``last_write``;
        raises when that write fails, the records it held kept in ``unsaved()``."""
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
        await asyncio.to_thread(self.flush, last_write)

    def flush(self, last_write: Write | None = None) -> None:
        with self._lock:
            self._pending.cache_entries.extend(self._cache.take_pending())
            batch = self._pending.copy()
        if not (batch or last_write or self._heartbeat_due(time.monotonic())):
            return
        with self._database.connection() as connection:
            batch.write(connection, skip_stored_runs=self._skip_stored_runs)
            if self._heartbeat is not None:
                self._heartbeat(connection)
            if last_write is not None:
                last_write(connection)
        with self._lock:
            self._pending.remove_written(batch)
        self._last_write = time.monotonic()
        self.written += len(batch.runs)
        self._refresh_statistics(len(batch.runs))

    def _refresh_statistics(self, runs: int) -> None:
        """On PostgreSQL, ANALYZE the run and score tables every ``ANALYZE_EVERY_RUNS`` runs written: a
        planner that still counts a handful of runs after a bulk insert picks plans that take seconds."""
        self._unanalyzed += runs
        if self._database.backend != "postgresql" or self._unanalyzed < ANALYZE_EVERY_RUNS:
            return
        with self._database.connection() as connection:
            connection.execute(text("analyze run, score"))
        self._unanalyzed = 0

    def unsaved(self) -> RunRecords:
        """What no write has stored yet."""
        with self._lock:
            self._pending.cache_entries.extend(self._cache.take_pending())
            return self._pending.copy()
