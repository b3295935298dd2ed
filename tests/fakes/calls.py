"""Running provider calls from synchronous tests, and the options that point each provider at a fake."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fakes.server import FakeServer
from promptlab_nb.engine.providers import ChatRequest, ChatResponse, ModelSpec, ProviderRegistry

QUESTION = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "What is the capital of France?"},
]
FAKE_KEYS = {"openai": "sk-test-openai", "anthropic": "sk-ant-test", "gemini": "gm-test-key"}


@dataclass(frozen=True)
class ProviderCase:
    """A model spec, how to point its provider at the fake server, and the cost the fake's usage implies."""

    name: str
    spec: str
    options: Callable[[FakeServer], dict[str, Any]]
    expected_cost: float | None

    @property
    def provider(self) -> str:
        return ModelSpec.parse(self.spec).provider

    def __str__(self) -> str:
        return self.name


def openai_style(key: str | None = None, **extra: Any) -> Callable[[FakeServer], dict[str, Any]]:
    return lambda server: {"base_url": server.openai_base_url, **({"api_key": key} if key else {}), **extra}


def at_root(key: str, **extra: Any) -> Callable[[FakeServer], dict[str, Any]]:
    return lambda server: {"base_url": server.url, "api_key": key, **extra}


def cost(input_per_million: float, output_per_million: float, input_tokens: int = 12, output_tokens: int = 7) -> float:
    return (input_tokens * input_per_million + output_tokens * output_per_million) / 1_000_000


PROVIDER_CASES = [
    ProviderCase("openai", "openai:gpt-4o-mini", openai_style(FAKE_KEYS["openai"]), cost(0.15, 0.60)),
    ProviderCase(
        "openai-httpx", "openai:gpt-4o-mini", openai_style(FAKE_KEYS["openai"], transport="httpx"), cost(0.15, 0.60)
    ),
    ProviderCase(
        "openai-raw", "openai:gpt-4o-mini", openai_style(FAKE_KEYS["openai"], transport="raw"), cost(0.15, 0.60)
    ),
    ProviderCase("anthropic", "anthropic:claude-haiku-4-5", at_root(FAKE_KEYS["anthropic"]), cost(1.00, 5.00)),
    ProviderCase(
        "anthropic-httpx",
        "anthropic:claude-haiku-4-5",
        at_root(FAKE_KEYS["anthropic"], transport="httpx"),
        cost(1.00, 5.00),
    ),
    ProviderCase("gemini", "gemini:gemini-2.5-flash", at_root(FAKE_KEYS["gemini"]), cost(0.30, 2.50)),
    ProviderCase("ollama", "ollama:llama3.2", openai_style(), 0.0),
    ProviderCase("openai-compatible", "openai-compatible:qwen2.5-7b-instruct", openai_style(), None),
]
KEYED_CASES = [case for case in PROVIDER_CASES if case.provider in FAKE_KEYS]


def case_named(name: str) -> ProviderCase:
    return next(case for case in PROVIDER_CASES if case.name == name)


def request_for(spec: str, **changes: Any) -> ChatRequest:
    return ChatRequest(messages=list(QUESTION), model=ModelSpec.parse(spec).model, **changes)


async def _with_provider(spec: str, options: dict[str, dict[str, Any]], use: Callable) -> Any:
    registry = ProviderRegistry(options)
    try:
        return await use(registry.get(ModelSpec.parse(spec).provider))
    finally:
        await registry.aclose()


def complete(spec: str, options: dict[str, dict[str, Any]], **changes: Any) -> ChatResponse:
    """One call of ``spec`` with these provider options, as the runner makes it."""
    return asyncio.run(_with_provider(spec, options, lambda provider: provider.complete(request_for(spec, **changes))))


def stream(spec: str, options: dict[str, dict[str, Any]], **changes: Any) -> list[str]:
    """The chunks ``Provider.stream`` yields for one call."""

    async def collect(provider) -> list[str]:
        return [chunk async for chunk in provider.stream(request_for(spec, **changes))]

    return asyncio.run(_with_provider(spec, options, collect))


def complete_case(case: ProviderCase, server: FakeServer, **changes: Any) -> ChatResponse:
    return complete(case.spec, {case.provider: case.options(server)}, **changes)


def stream_case(case: ProviderCase, server: FakeServer, **changes: Any) -> list[str]:
    return stream(case.spec, {case.provider: case.options(server)}, **changes)


def closed_port_url() -> str:
    """A loopback URL where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
