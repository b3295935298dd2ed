"""The response cache: identical calls (provider, server, model, params, messages, repeat) come from the store."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import Any

from sqlalchemy.orm import Session

from promptlab_nb.core.ids import utcnow
from promptlab_nb.engine.providers.base import ChatRequest, ChatResponse, ModelSpec
from promptlab_nb.store.bulk import insert_records, rows_where_in
from promptlab_nb.store.database import Database
from promptlab_nb.store.models import CacheEntry

RESPONSE_FIELDS = tuple(field.name for field in fields(ChatResponse))
Acceptance = Callable[[ChatResponse], bool]
"""Whether the one who asked takes an answer (whole, readable): only such answers are cached."""


def accept_any(response: ChatResponse) -> bool:
    return True


def cache_key(spec: ModelSpec, request: ChatRequest, repeat: int, endpoint: str = "") -> str:
    """Repeats are distinct samples, so the repeat index is part of the key; so is the server that
    answers (``Provider.endpoint``, empty for the provider's default server, which keeps older keys)."""
    return CacheKeys(spec, request.params, request.response_format, endpoint).key(request.messages, repeat)


_MESSAGE_KEYS = {"role", "content"}
_string = json.encoder.encode_basestring


def _encoded(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


class CacheKeys:
    """The cache keys of many requests to one model with the same params: the key is the SHA-256 of
    ``[provider, model, params, messages, response_format, repeat(, endpoint)]`` as JSON, and all but
    the messages and the repeat are encoded once here (JSON joins a list's items with ", ")."""

    def __init__(self, spec: ModelSpec, params: dict[str, Any], response_format: Any, endpoint: str = ""):
        self._head = f"[{_encoded(spec.provider)}, {_encoded(spec.model)}, {_encoded(params)}, "
        self._middle = f", {_encoded(response_format)}, "
        self._end = f", {_encoded(endpoint)}]" if endpoint else "]"

    def key(self, messages: list[dict[str, str]], repeat: int) -> str:
        encoded_repeat = str(repeat) if type(repeat) is int else _encoded(repeat)
        material = f"{self._head}{_encoded_messages(messages)}{self._middle}{encoded_repeat}{self._end}"
        return hashlib.sha256(material.encode()).hexdigest()


def _encoded_messages(messages: list[dict[str, str]]) -> str:
    """``_encoded(messages)`` for chat messages of a role and a text, written without the generic encoder."""
    encoded = []
    for message in messages:
        if message.keys() != _MESSAGE_KEYS or not all(type(value) is str for value in message.values()):
            return _encoded(messages)
        encoded.append(f'{{"content": {_string(message["content"])}, "role": {_string(message["role"])}}}')
    return f"[{', '.join(encoded)}]"


def response_payload(response: ChatResponse) -> dict[str, Any]:
    """A response as the cache stores it (``asdict`` would deep-copy the parsed value, at several times the cost)."""
    return {name: getattr(response, name) for name in RESPONSE_FIELDS}


def response_from_cache(payload: dict[str, Any]) -> ChatResponse:
    """A stored response as a cache hit: no latency and no cost this time."""
    return ChatResponse(**{**payload, "latency_ms": 0.0, "cost": 0.0})


class ResponseCache:
    """Cached responses of one experiment run: bulk-prefetched, looked up one by one when needed,
    new responses written with the runs."""

    def __init__(self, database: Database, enabled: bool = True):
        self._database = database
        self.enabled = enabled
        self._known: dict[str, dict[str, Any] | str] = {}
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
        """The stored responses are kept as their JSON text, read when a run asks for one."""
        found = rows_where_in(session.connection(), CacheEntry.__table__, "key", keys, ("key", "response"))
        self._known.update(dict(found))

    def get(self, key: str) -> ChatResponse | None:
        if not self.enabled:
            return None
        payload = self._known.get(key)
        if payload is None:
            return None
        if isinstance(payload, str):
            payload = self._known[key] = json.loads(payload)
        return response_from_cache(payload)

    async def fetch(self, key: str) -> ChatResponse | None:
        """The stored response for a key not prefetched (a pipeline's later steps, a judge's call)."""
        if not self.enabled or key in self._looked_up:
            return self.get(key)
        await asyncio.to_thread(self.prefetch, [key])
        return self.get(key)

    def settled(self, key: str) -> bool:
        """Whether ``get(key)`` needs no look-up in the store: the cache is off, or the key was looked up."""
        return not self.enabled or key in self._looked_up or key in self._known

    def has(self, key: str) -> bool:
        return self.enabled and key in self._known

    def put(self, key: str, spec: ModelSpec, response: ChatResponse) -> None:
        if not self.enabled or key in self._known:
            return
        payload = response_payload(response)
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
