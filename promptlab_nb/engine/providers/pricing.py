"""Prices per million tokens (input, output) in US dollars."""

from __future__ import annotations

from promptlab_nb.engine.providers.base import ModelSpec

FREE_PROVIDERS = {"mock"}


def price_per_million(spec: ModelSpec) -> tuple[float, float] | None:
    if spec.provider in FREE_PROVIDERS:
        return (0.0, 0.0)
    return None
