"""Offline, deterministic models: ``mock:echo`` and models registered with ``mock_model``.

They let demos, notebooks and tests run without network or keys, the batch flow included:
a mock batch is answered ``batch_delay`` seconds after it was submitted (kept in this process).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from promptlab_nb.core.errors import BadRequest, ProviderError
from promptlab_nb.core.ids import new_id
from promptlab_nb.core.vocabulary import BatchStatus
from promptlab_nb.engine.providers.base import ChatRequest, ChatResponse, Message, Provider
from promptlab_nb.engine.providers.batch_api import (
    BatchIntent,
    BatchLimits,
    BatchLine,
    BatchOutcome,
    BatchState,
)
from promptlab_nb.engine.providers.pricing import Price
from promptlab_nb.engine.providers.structured import parse_json_if_asked

Responder = str | Sequence[str] | Mapping[str, str] | Callable[[list[Message]], str]
FREE = Price(0.0, 0.0)


def prompt_text(messages: list[Message]) -> str:
    return "\n\n".join(message["content"] for message in messages)


def count_tokens(text: str) -> int:
    return len(text.split())


@dataclass
class MockModel:
    """A canned model. ``respond`` is a fixed text, a list used in turn, a mapping
    from a substring of the prompt to the answer (``"*"`` is the fallback), or a
    function of the messages. ``errors`` are raised, in order, by the next calls."""

    respond: Responder = ""
    latency: float = 0.0
    errors: deque[ProviderError] = field(default_factory=deque)
    calls: int = 0
    batch_delay: float | None = None

    def answer(self, messages: list[Message]) -> str:
        if callable(self.respond):
            return self.respond(messages)
        if isinstance(self.respond, str):
            return self.respond
        if isinstance(self.respond, Mapping):
            return _answer_by_keyword(self.respond, prompt_text(messages))
        answers = list(self.respond)
        return answers[(self.calls - 1) % len(answers)] if answers else ""


def _answer_by_keyword(answers: Mapping[str, str], prompt: str) -> str:
    lowered = prompt.lower()
    for keyword, answer in answers.items():
        if keyword != "*" and keyword.lower() in lowered:
            return answer
    return answers.get("*", "")


_MODELS: dict[str, MockModel] = {}


def mock_model(
    name: str,
    respond: Responder = "",
    *,
    latency: float = 0.0,
    errors: Sequence[ProviderError] = (),
    batch_delay: float | None = None,
) -> MockModel:
    """Register (or replace) the offline model ``mock:<name>``; its batches finish ``batch_delay``
    seconds after submission (default: the provider's ``batch_delay`` option)."""
    model = MockModel(respond=respond, latency=latency, errors=deque(errors), batch_delay=batch_delay)
    _MODELS[name] = model
    return model


def _builtin(name: str) -> MockModel | None:
    if name == "echo":
        return MockModel(respond=prompt_text)
    if name == "json":
        return MockModel(respond=lambda messages: json.dumps({"prompt": prompt_text(messages)}))
    return None


@dataclass
class MockBatch:
    model: str
    lines: list[BatchLine]
    ready_at: float
    tag: str
    cancelled: bool = False

    @property
    def status(self) -> BatchStatus:
        if self.cancelled:
            return BatchStatus.CANCELLED
        return BatchStatus.ENDED if time.monotonic() >= self.ready_at else BatchStatus.IN_PROGRESS


_BATCHES: dict[str, MockBatch] = {}


def _response(model: MockModel, request: ChatRequest, started: float) -> ChatResponse:
    text = model.answer(request.messages)
    return ChatResponse(
        text=text,
        parsed=parse_json_if_asked(text, request.response_format),
        finish_reason="stop",
        input_tokens=count_tokens(prompt_text(request.messages)),
        output_tokens=count_tokens(text),
        latency_ms=(time.perf_counter() - started) * 1000,
        cost=0.0,
        request_id=f"mock-{model.calls}",
    )


class MockProvider(Provider):
    """Options: ``latency`` (seconds per call, overriding the models') and ``batch_delay``
    (seconds before a batch is answered, for models that set none)."""

    name = "mock"
    batch_limits = BatchLimits(max_requests=100_000, max_bytes=256 * 1024 * 1024)
    paid = False

    def __init__(self, latency: float | None = None, batch_delay: float = 0.0):
        self._latency = latency
        self._batch_delay = float(batch_delay)
        self._builtins: dict[str, MockModel | None] = {}

    def _found_model(self, name: str) -> MockModel | None:
        model = _MODELS.get(name)
        if model is None:
            if name not in self._builtins:
                self._builtins[name] = _builtin(name)
            model = self._builtins[name]
        return model

    def _model(self, name: str) -> MockModel:
        model = self._found_model(name)
        if model is None:
            known = ", ".join(sorted({"echo", "json", *_MODELS}))
            raise BadRequest(
                f"No mock model {name!r}; known: {known}. Register one with "
                "promptlab_nb.mock_model(name, respond=...).",
                provider=self.name,
            )
        return model

    async def complete(self, request: ChatRequest) -> ChatResponse:
        started = time.perf_counter()
        model = self._model(request.model)
        model.calls += 1
        latency = model.latency if self._latency is None else self._latency
        if latency:
            await asyncio.sleep(latency)
        if model.errors:
            raise model.errors.popleft()
        return _response(model, request, started)

    def answer_at_once(self, request: ChatRequest) -> ChatResponse | None:
        model = self._found_model(request.model)
        if model is None or model.errors or (model.latency if self._latency is None else self._latency):
            return None
        started = time.perf_counter()
        model.calls += 1
        return _response(model, request, started)

    def known_models(self) -> list[str]:
        return sorted({"echo", "json", *_MODELS})

    def batch_line(self, custom_id: str, request: ChatRequest) -> BatchLine:
        return {"custom_id": custom_id, "messages": request.messages, "response_format": request.response_format}

    async def submit_batch(self, model: str, lines: list[BatchLine], intent: BatchIntent) -> BatchState:
        delay = self._model(model).batch_delay
        batch_id = f"mockbatch_{new_id()}"
        ready_at = time.monotonic() + (self._batch_delay if delay is None else delay)
        _BATCHES[batch_id] = MockBatch(model, list(lines), ready_at, intent.tag)
        return self._state(batch_id)

    async def find_batch(self, intent: BatchIntent) -> BatchState | None:
        """Mock batches live in this process: one submitted by a kernel that died is gone."""
        found = next((batch_id for batch_id, batch in _BATCHES.items() if batch.tag == intent.tag), None)
        return self._state(found) if found is not None else None

    async def batch_state(self, batch_id: str) -> BatchState:
        return self._state(batch_id)

    async def cancel_batch(self, batch_id: str) -> BatchState:
        batch = self._batch(batch_id)
        batch.cancelled = batch.status == BatchStatus.IN_PROGRESS
        return self._state(batch_id)

    async def batch_outcomes(self, batch_id: str) -> list[BatchOutcome]:
        batch = self._batch(batch_id)
        if batch.status == BatchStatus.CANCELLED:
            reason = "mock batch cancelled before this request ran"
            return [BatchOutcome(line["custom_id"], error=reason) for line in batch.lines]
        model = self._model(batch.model)
        return [self._outcome(model, line) for line in batch.lines]

    def _outcome(self, model: MockModel, line: BatchLine) -> BatchOutcome:
        model.calls += 1
        if model.errors:
            return BatchOutcome(line["custom_id"], error=str(model.errors.popleft()))
        text = model.answer(line["messages"])
        return BatchOutcome(
            line["custom_id"],
            text=text,
            finish_reason="stop",
            input_tokens=count_tokens(prompt_text(line["messages"])),
            output_tokens=count_tokens(text),
            request_id=f"mock-{model.calls}",
        )

    def _batch(self, batch_id: str) -> MockBatch:
        if batch_id not in _BATCHES:
            raise BadRequest(f"No mock batch {batch_id!r} in this process.", provider=self.name)
        return _BATCHES[batch_id]

    def _state(self, batch_id: str) -> BatchState:
        batch = self._batch(batch_id)
        done = len(batch.lines) if batch.status == BatchStatus.ENDED else 0
        return BatchState(batch_id=batch_id, status=batch.status, succeeded=done)

    def price(self, model: str) -> Price | None:
        return FREE
