"""The table behind ``lab.models()``: every provider, whether it can be used, its models and prices."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from promptlab_nb.core.errors import PromptLabError
from promptlab_nb.engine.providers.base import Provider
from promptlab_nb.engine.providers.registry import ProviderRegistry, available_providers

COLUMNS = ["provider", "model", "spec", "credentials", "env_var", "input_per_million", "output_per_million", "note"]


def providers_table(options: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """One row per known model of each provider (one row without a model for providers that
    list none). ``credentials`` says whether a key (for openai-compatible: a base URL) is set;
    the key itself never appears. Prices are dollars per million tokens, NaN when unknown.
    ``note`` explains a provider that could not be loaded."""
    registry = ProviderRegistry(options)
    rows = [row for name in available_providers() for row in _rows(name, registry)]
    return pd.DataFrame(rows, columns=COLUMNS)


def _rows(name: str, registry: ProviderRegistry) -> list[dict[str, Any]]:
    try:
        provider = registry.get(name)
    except (PromptLabError, ImportError, TypeError) as error:
        return [{"provider": name, "spec": f"{name}:<model>", "credentials": False, "note": str(error)}]
    models: list[str | None] = list(provider.known_models()) or [None]
    return [_model_row(provider, model) for model in models]


def _model_row(provider: Provider, model: str | None) -> dict[str, Any]:
    price = provider.price(model or "")
    return {
        "provider": provider.name,
        "model": model,
        "spec": f"{provider.name}:{model or '<model>'}",
        "credentials": provider.has_credentials(),
        "env_var": provider.env_var,
        "input_per_million": price.input_per_million if price else None,
        "output_per_million": price.output_per_million if price else None,
        "note": "",
    }
