"""The response cache: identical calls (provider, server, model, params, messages, repeat) come from the store."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from promptlab_nb.core.ids import utcnow
from promptlab_nb.engine.providers.base import ChatRequest, ChatResponse, ModelSpec
from promptlab_nb.store.bulk import insert_records
from promptlab_nb.store.database import Database
from promptlab_nb.store.models import CacheEntry

LOOKUP_CHUNK = 1_000
Acceptance = Callable[[ChatResponse], bool]
"""Whether the one who asked takes an answer (whole, readable): only such answers are cached."""


def accept_any(response: ChatResponse) -> bool:
    return True


def cache_key(spec: ModelSpec, request: ChatRequest, repeat: int, endpoint: str = "") -> str:
    """Repeats are distinct samples, so the repeat index is part of the key; so is the server that
    answers (``Provider.endpoint``, empty for the provider's default server, which keeps older keys)."""
    parts = [spec.provider, spec.model, request.params, request.messages, request.response_format, repeat]
    material = json.dumps([*parts, endpoint] if endpoint else parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(material.encode()).hexdigest()


def response_from_cache(payload: dict[str, Any]) -> ChatResponse:
    """A stored response as a cache hit: no latency and no cost this time."""
    return ChatResponse(**{**payload, "latency_ms": 0.0, "cost": 0.0})


class ResponseCache:
    """Cached responses of one experiment run: bulk-prefetched, looked up one by one when needed,
    new responses written with the runs."""

    def __init__(self, database: Database, enabled: bool = True):
        self._database = database
        self.enabled = enabled
        self._known: dict[str, dict[str, Any]] = {}
        self._looked_up: set[str] = set()
        self._pending: list[dict[str, Any]] = []
        self._pending_lock = threading.Lock()

    def prefetch(self, keys: Iterable[str], session: Session | None = None) -> None:
        """Look up many keys at once (in ``session`` when given, else in a unit of work of its own)."""
        if not self.enabled:
            return
        wanted = [key for key in dict.fromkeys(keys) if key not in self._known and key not in self._looked_up]
        if not wanted:
            return
        self._looked_up.update(wanted)
        if session is None:
            with self._database.session() as own_session:
                self._look_up(own_session, wanted)
        else:
            self._look_up(session, wanted)

    def _look_up(self, session: Session, keys: list[str]) -> None:
        for start in range(0, len(keys), LOOKUP_CHUNK):
            query = select(CacheEntry.key, CacheEntry.response).where(
                CacheEntry.key.in_(keys[start : start + LOOKUP_CHUNK])
            )
            self._known.update({key: response for key, response in session.execute(query)})

    def get(self, key: str) -> ChatResponse | None:
        if not self.enabled:
            return None
        payload = self._known.get(key)
        return response_from_cache(payload) if payload is not None else None

    async def fetch(self, key: str) -> ChatResponse | None:
        """The stored response for a key not prefetched (a pipeline's later steps, a judge's call)."""
        if not self.enabled or key in self._looked_up:
            return self.get(key)
        await asyncio.to_thread(self.prefetch, [key])
        return self.get(key)

    def has(self, key: str) -> bool:
        return self.enabled and key in self._known

    def put(self, key: str, spec: ModelSpec, response: ChatResponse) -> None:
        if not self.enabled or key in self._known:
            return
        payload = asdict(response)
        self._known[key] = payload
        entry = {
            "key": key,
            "provider": spec.provider,
            "model": spec.model,
            "response": payload,
            "created_at": utcnow(),
        }
        with self._pending_lock:
            self._pending.append(entry)

    def take_pending(self) -> list[dict[str, Any]]:
        with self._pending_lock:
            pending, self._pending = self._pending, []
        return pending

    @staticmethod
    def write(connection, entries: list[dict[str, Any]]) -> None:
        insert_records(connection, CacheEntry.__table__, entries, skip_existing=True)
