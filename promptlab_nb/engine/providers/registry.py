"""Which provider serves a model spec. Built-in providers and entry points load the same way."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from promptlab_nb.core.errors import InvalidProviderOptions, UnknownProvider
from promptlab_nb.engine.providers.base import Provider

ENTRY_POINT_GROUP = "promptlab_nb.providers"

BUILTIN_PROVIDERS: dict[str, str] = {
    "openai": "promptlab_nb.engine.providers.openai_provider:OpenAIProvider",
    "anthropic": "promptlab_nb.engine.providers.anthropic_provider:AnthropicProvider",
    "gemini": "promptlab_nb.engine.providers.gemini_provider:GeminiProvider",
    "ollama": "promptlab_nb.engine.providers.openai_provider:OllamaProvider",
    "openai-compatible": "promptlab_nb.engine.providers.openai_provider:OpenAICompatibleProvider",
    "mock": "promptlab_nb.engine.providers.mock:MockProvider",
}

ProviderFactory = Callable[..., Provider]


def _load(target: str) -> ProviderFactory:
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _create(name: str, factory: ProviderFactory, options: Mapping[str, Any]) -> Provider:
    try:
        return factory(**options)
    except (TypeError, ValueError) as error:
        raise InvalidProviderOptions(name, str(error)) from error


def available_providers() -> dict[str, str]:
    """Provider name -> "module:factory", built-ins first, then installed plugins."""
    found = dict(BUILTIN_PROVIDERS)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, entry.value)
    return found


def provider_factory(name: str) -> str:
    """The "module:factory" of provider ``name``: a built-in without reading the installed packages'
    entry points (about 6 ms each time), a plugin from them; UnknownProvider when neither has it."""
    if name in BUILTIN_PROVIDERS:
        return BUILTIN_PROVIDERS[name]
    known = available_providers()
    if name not in known:
        raise UnknownProvider(name, known)
    return known[name]


class ProviderRegistry:
    """Creates each provider once, with its options, and closes them together.

    Providers hold HTTP clients bound to the event loop that created them, so a
    registry lives for one stretch of async work on one loop.
    """

    def __init__(self, options: Mapping[str, Mapping[str, Any]] | None = None):
        self._options = {name: dict(values) for name, values in (options or {}).items()}
        self._instances: dict[str, Provider] = {}

    def get(self, name: str) -> Provider:
        if name not in self._instances:
            self._instances[name] = _create(name, _load(provider_factory(name)), self._options.get(name, {}))
        return self._instances[name]

    async def aclose(self) -> None:
        instances, self._instances = list(self._instances.values()), {}
        for provider in instances:
            await provider.aclose()
