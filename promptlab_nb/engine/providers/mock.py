"""Offline, deterministic models: ``mock:echo`` and models registered with ``mock_model``.

They let demos, notebooks and tests run without network or keys.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from promptlab_nb.core.errors import BadRequest, ProviderError
from promptlab_nb.engine.providers.base import ChatRequest, ChatResponse, Message, Provider
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
) -> MockModel:
    """Register (or replace) the offline model ``mock:<name>``."""
    model = MockModel(respond=respond, latency=latency, errors=deque(errors))
    _MODELS[name] = model
    return model


def _builtin(name: str) -> MockModel | None:
    if name == "echo":
        return MockModel(respond=prompt_text)
    if name == "json":
        return MockModel(respond=lambda messages: json.dumps({"prompt": prompt_text(messages)}))
    return None


class MockProvider(Provider):
    name = "mock"

    def __init__(self, latency: float | None = None):
        self._latency = latency

    def _model(self, name: str) -> MockModel:
        model = _MODELS.get(name) or _builtin(name)
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

    def known_models(self) -> list[str]:
        return sorted({"echo", "json", *_MODELS})

    def price(self, model: str) -> Price | None:
        return FREE
