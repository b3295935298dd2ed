"""Estimating what an experiment will cost before it runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from promptlab_nb.engine.providers.base import ModelSpec, Provider

DEFAULT_OUTPUT_TOKENS = 256
CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """A model call still to make: its model, about how many characters it sends, its ``max_tokens``."""

    spec: ModelSpec
    input_chars: int
    max_tokens: int | None = None


def expected_output_chars(max_tokens: int | None) -> int:
    """About how long an answer is when only its ``max_tokens`` is known (256 tokens without one)."""
    return (max_tokens or DEFAULT_OUTPUT_TOKENS) * CHARS_PER_TOKEN


@dataclass
class CostEstimate:
    """``unpriced_paid``: calls per model of a paid provider whose price is unknown (they may cost anything)."""

    calls: int = 0
    cached: int = 0
    cost: float = 0.0
    unpriced_calls: int = 0
    unpriced_paid: dict[str, int] = field(default_factory=dict)

    def add(self, call: PlannedCall, provider: Provider, batch: bool = False, count: int = 1) -> None:
        """Count ``count`` calls at ``provider``'s price (its batch price in a batch): about four characters
        a token in (``call.input_chars`` is what they send together), ``max_tokens`` (or 256) each out."""
        model = call.spec.model
        price = provider.batch_price(model) if batch else provider.price(model)
        self.calls += count
        if price is None:
            self.unpriced_calls += count
            if provider.paid:
                self.unpriced_paid[str(call.spec)] = self.unpriced_paid.get(str(call.spec), 0) + count
            return
        output_tokens = (call.max_tokens or DEFAULT_OUTPUT_TOKENS) * count
        input_tokens = call.input_chars / CHARS_PER_TOKEN
        self.cost += (input_tokens * price.input_per_million + output_tokens * price.output_per_million) / 1_000_000

    def describe(self) -> str:
        cost = "cost unknown" if self.calls and self.calls == self.unpriced_calls else f"est. ${self.cost:.4f}"
        if self.unpriced_calls and self.calls > self.unpriced_calls:
            cost += f" (+{self.unpriced_calls} calls without a known price)"
        return f"{self.calls} calls ({self.cached} cached), {cost}"
