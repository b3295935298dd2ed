"""What a call costs: dollars per million input and output tokens, per model.

List prices come from the data bundled with genai-prices, read offline: its auto-update
(``genai_prices.UpdatePrices``) is never started, so no price is fetched at run time. In a
batch a model costs its listed batch price, else half its standard price. Users override or add
models with the provider option ``prices``, e.g. ``{"gpt-4o-mini": {"input": 0.15, "output": 0.60}}``,
with ``"batch_input"`` and ``"batch_output"`` where batch prices are not half; the key ``"*"``
prices every model of that provider. A model without a price has an unknown cost (None), never zero.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genai_prices.types import ModelPrice, TieredPrices

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


LISTED_AS = {"openai": "openai", "anthropic": "anthropic", "gemini": "google"}
"""Our providers with list prices, by their genai-prices id."""

LOCAL_PRICES: dict[str, dict[str, Price]] = {"ollama": {ANY_MODEL: Price(0.0, 0.0)}}

CATALOG: dict[str, tuple[str, ...]] = {
    "openai": (
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-5",
        "gpt-5-mini",
        "gpt-5-nano",
        "o3",
        "o4-mini",
    ),
    "anthropic": (
        "claude-3-5-haiku",
        "claude-haiku-4-5",
        "claude-opus-4-1",
        "claude-opus-4-5",
        "claude-sonnet-4-0",
        "claude-sonnet-4-5",
    ),
    "gemini": ("gemini-2.0-flash", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.5-pro"),
}
"""The chat models ``lab.models()`` lists; every model genai-prices knows is priced, listed or not."""

_BATCH = {"processing": "batch"}


@cache
def _listed_price(provider: str, model: str) -> Price | None:
    """``model``'s list price in genai-prices, None when it has none. A tiered price (e.g. more
    above 200k input tokens) counts at its base tier; a batch price is kept where it is not half."""
    try:
        standard = _model_price(provider, model)
    except LookupError:
        return None
    if standard.input_mtok is None or standard.output_mtok is None:
        return None
    price = Price(_per_million(standard.input_mtok), _per_million(standard.output_mtok))
    batch = _model_price(provider, model, _BATCH)
    if batch == standard or batch.input_mtok is None or batch.output_mtok is None:
        return price
    batch_price = Price(_per_million(batch.input_mtok), _per_million(batch.output_mtok))
    return price if batch_price == price.for_batch() else _with_batch(price, batch_price)


def _model_price(provider: str, model: str, context: Mapping[str, str] | None = None) -> ModelPrice:
    import genai_prices  # here, not at the top: it loads httpx2, which importing promptlab_nb must not

    no_usage = genai_prices.Usage(input_tokens=0, output_tokens=0)
    return genai_prices.calc_price(no_usage, model, provider_id=provider, price_context=context).model_price


def _per_million(value: Decimal | TieredPrices) -> float:
    from genai_prices.types import TieredPrices

    return float(value.base if isinstance(value, TieredPrices) else value)


def _with_batch(price: Price, batch: Price) -> Price:
    return Price(price.input_per_million, price.output_per_million, batch.input_per_million, batch.output_per_million)


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
    """The prices of one provider's models: the user's overrides, then the list prices."""

    def __init__(self, provider: str, overrides: Mapping[str, Any] | None = None):
        self._listed_as = LISTED_AS.get(provider)
        self._catalog = CATALOG.get(provider, ())
        self._prices = dict(LOCAL_PRICES.get(provider, {}))
        self._prices.update({model: _as_price(value) for model, value in (overrides or {}).items()})

    def price(self, model: str) -> Price | None:
        names = (model, _without_snapshot_suffix(model))
        own = next((self._prices[name] for name in names if name in self._prices), None)
        return own or self._listed(names) or self._prices.get(ANY_MODEL)

    def _listed(self, names: tuple[str, str]) -> Price | None:
        if self._listed_as is None:
            return None
        return next((price for name in names if (price := _listed_price(self._listed_as, name))), None)

    def cost(self, model: str, input_tokens: int | None, output_tokens: int | None) -> float | None:
        price = self.price(model)
        return price.cost(input_tokens, output_tokens) if price else None

    def models(self) -> list[str]:
        return sorted({*self._catalog, *self._prices} - {ANY_MODEL})


def _without_snapshot_suffix(model: str) -> str:
    return _SNAPSHOT_SUFFIX.sub("", model)
