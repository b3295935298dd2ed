"""What the fake batch endpoints hold and answer: submitted batches, their progress, and the fate
of each request line, in terms both the OpenAI and the Anthropic wire formats render."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

OK, FAILED, MALFORMED, UNREADABLE, STOPPED = "ok", "failed", "malformed", "unreadable", "stopped"
IN_PROGRESS, ENDED, EXPIRED, CANCELLING, CANCELLED, INVALID = (
    "in_progress",
    "ended",
    "expired",
    "cancelling",
    "cancelled",
    "failed",
)


Replier = Callable[[list[dict[str, Any]]], str]


@dataclass
class FakeBatch:
    id: str
    lines: list[dict[str, Any]]
    created_at: int
    metadata: dict[str, str] | None = None
    status: str = IN_PROGRESS
    polls: int = 0
    cancel_requested: bool = False

    @property
    def finished(self) -> bool:
        return self.status in (ENDED, EXPIRED, CANCELLED, INVALID)


@dataclass
class BatchBook:
    """Batches end after ``polls_to_finish`` status reads. ``expire`` makes them expire instead, with
    only the first ``answered_before_stop`` lines answered (also what a cancelled batch answered);
    ``failing``, ``malformed`` and ``unreadable`` name custom ids answered with an error, a result
    line of the wrong shape, or a line that is not JSON; ``invalid`` fails the whole batch.
    ``answer`` gives the text of each answer from the request's messages (by default ``answer_to``).
    ``on_create`` is called with each new batch before the client hears of it (to kill the client)."""

    polls_to_finish: int = 1
    expire: bool = False
    invalid: bool = False
    answered_before_stop: int = 0
    failing: set[str] = field(default_factory=set)
    malformed: set[str] = field(default_factory=set)
    unreadable: set[str] = field(default_factory=set)
    on_create: Callable[[FakeBatch], None] | None = None
    answer: Replier | None = None
    batches: dict[str, FakeBatch] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    submitted_lines: int = 0
    _ids: itertools.count = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    def add(self, prefix: str, lines: list[dict[str, Any]], metadata: dict[str, str] | None = None) -> FakeBatch:
        with self._lock:
            batch = FakeBatch(self.new_id(prefix), lines, int(time.time()), metadata)
            self.batches[batch.id] = batch
            self.submitted_lines += len(lines)
        if self.on_create is not None:
            self.on_create(batch)
        return batch

    def newest_first(self, prefix: str) -> list[FakeBatch]:
        """The batches of one wire format, as the providers list them."""
        with self._lock:
            return [batch for batch in reversed(self.batches.values()) if batch.id.startswith(f"{prefix}_")]

    def poll(self, batch_id: str) -> FakeBatch:
        """Read a batch's status, which moves it on: it ends (or expires) after enough reads."""
        with self._lock:
            batch = self.batches[batch_id]
            batch.polls += 1
            if not batch.finished:
                batch.status = self._next_status(batch)
            return batch

    def cancel(self, batch_id: str) -> FakeBatch:
        with self._lock:
            batch = self.batches[batch_id]
            if not batch.finished:
                batch.cancel_requested, batch.status = True, CANCELLING
            return batch

    def _next_status(self, batch: FakeBatch) -> str:
        if batch.cancel_requested:
            return CANCELLED
        if self.invalid:
            return INVALID
        if batch.polls < self.polls_to_finish:
            return IN_PROGRESS
        return EXPIRED if self.expire else ENDED

    def fates(self, batch: FakeBatch) -> list[tuple[dict[str, Any], str]]:
        """Each request line with what happened to it."""
        stopped = batch.status in (EXPIRED, CANCELLED)
        return [(line, self._fate(line["custom_id"], index, stopped)) for index, line in enumerate(batch.lines)]

    def _fate(self, custom_id: str, index: int, stopped: bool) -> str:
        if stopped and index >= self.answered_before_stop:
            return STOPPED
        for fate, custom_ids in ((FAILED, self.failing), (MALFORMED, self.malformed), (UNREADABLE, self.unreadable)):
            if custom_id in custom_ids:
                return fate
        return OK

    def reply(self, messages: list[dict[str, Any]]) -> str:
        return (self.answer or answer_to)(messages)

    @property
    def polls(self) -> int:
        return sum(batch.polls for batch in self.batches.values())


def answer_to(messages: list[dict[str, Any]]) -> str:
    """The fake's reply to a batched request: it names the question, so each answer can be traced to its run."""
    return f"Answer to: {messages[-1]['content']}"


CURRENT_BOOK: web.AppKey = web.AppKey("current_batch_book")


def book_of(request: web.Request) -> BatchBook:
    return request.app[CURRENT_BOOK]()
