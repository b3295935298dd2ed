"""What a call costs: dollars per million input and output tokens, per model.

Built-in prices are the providers' list prices for standard (non-batch) calls, checked
November 2025; their batch APIs charge half of that. Users override or add models with the
provider option ``prices``, e.g. ``{"gpt-4o-mini": {"input": 0.15, "output": 0.60}}``, with
``"batch_input"`` and ``"batch_output"`` where batch prices are not half; the key ``"*"``
prices every model of that provider. A model without a price has an unknown cost (None), never zero.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_SNAPSHOT_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest|preview(-\d{2}-\d{4})?)$")
ANY_MODEL = "*"
BATCH_DISCOUNT = 0.5


@dataclass(frozen=True, slots=True)
class Price:
    input_per_million: float
    output_per_million: float
    batch_input_per_million: float | None = None
    batch_output_per_million: float | None = None

    def cost(self, input_tokens: int | None, output_tokens: int | None) -> float | None:
        if input_tokens is None or output_tokens is None:
            return None
        return (input_tokens * self.input_per_million + output_tokens * self.output_per_million) / 1_000_000

    def for_batch(self) -> Price:
        """The price of the same model in a batch: the listed batch prices, else half."""
        return Price(
            _or(self.batch_input_per_million, self.input_per_million * BATCH_DISCOUNT),
            _or(self.batch_output_per_million, self.output_per_million * BATCH_DISCOUNT),
        )


def _or(value: float | None, fallback: float) -> float:
    return fallback if value is None else value


BUILTIN_PRICES: dict[str, dict[str, Price]] = {
    "openai": {
        "gpt-4o-mini": Price(0.15, 0.60),
        "gpt-4o": Price(2.50, 10.00),
        "gpt-4.1": Price(2.00, 8.00),
        "gpt-4.1-mini": Price(0.40, 1.60),
        "gpt-4.1-nano": Price(0.10, 0.40),
        "gpt-5": Price(1.25, 10.00),
        "gpt-5-mini": Price(0.25, 2.00),
        "gpt-5-nano": Price(0.05, 0.40),
        "o3": Price(2.00, 8.00),
        "o4-mini": Price(1.10, 4.40),
    },
    "anthropic": {
        "claude-haiku-4-5": Price(1.00, 5.00),
        "claude-sonnet-4-5": Price(3.00, 15.00),
        "claude-opus-4-5": Price(5.00, 25.00),
        "claude-opus-4-1": Price(15.00, 75.00),
        "claude-sonnet-4-0": Price(3.00, 15.00),
        "claude-3-5-haiku": Price(0.80, 4.00),
    },
    "gemini": {
        "gemini-2.5-pro": Price(1.25, 10.00),
        "gemini-2.5-flash": Price(0.30, 2.50),
        "gemini-2.5-flash-lite": Price(0.10, 0.40),
        "gemini-2.0-flash": Price(0.10, 0.40),
    },
    "ollama": {ANY_MODEL: Price(0.0, 0.0)},
}

PriceOverride = Mapping[str, float] | Sequence[float] | Price


def _as_price(value: PriceOverride) -> Price:
    if isinstance(value, Price):
        return value
    if isinstance(value, Mapping):
        return Price(
            float(value["input"]),
            float(value["output"]),
            _optional_float(value.get("batch_input")),
            _optional_float(value.get("batch_output")),
        )
    input_price, output_price = value
    return Price(float(input_price), float(output_price))


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


class PriceTable:
    """The prices of one provider's models: the built-in list updated by the user's overrides."""

    def __init__(self, provider: str, overrides: Mapping[str, Any] | None = None):
        self._prices = dict(BUILTIN_PRICES.get(provider, {}))
        self._prices.update({model: _as_price(value) for model, value in (overrides or {}).items()})

    def price(self, model: str) -> Price | None:
        for name in (model, _without_snapshot_suffix(model)):
            if name in self._prices:
                return self._prices[name]
        return self._prices.get(ANY_MODEL)

    def cost(self, model: str, input_tokens: int | None, output_tokens: int | None) -> float | None:
        price = self.price(model)
        return price.cost(input_tokens, output_tokens) if price else None

    def models(self) -> list[str]:
        return sorted(name for name in self._prices if name != ANY_MODEL)


def _without_snapshot_suffix(model: str) -> str:
    return _SNAPSHOT_SUFFIX.sub("", model)
