"""Estimating what an experiment will cost before it runs."""

from __future__ import annotations

from dataclasses import dataclass

from promptlab_nb.engine.providers.pricing import Price

DEFAULT_OUTPUT_TOKENS = 256


@dataclass
class Estimate:
    calls: int = 0
    cached: int = 0
    cost: float = 0.0
    unpriced_calls: int = 0

    def add_call(self, price: Price | None, input_chars: int, max_tokens: int | None) -> None:
        """Count one call: about four characters a token in, ``max_tokens`` (or 256) out."""
        self.calls += 1
        if price is None:
            self.unpriced_calls += 1
            return
        output_tokens = max_tokens or DEFAULT_OUTPUT_TOKENS
        self.cost += (input_chars / 4 * price.input_per_million + output_tokens * price.output_per_million) / 1_000_000

    def describe(self) -> str:
        cost = "cost unknown" if self.calls and self.calls == self.unpriced_calls else f"est. ${self.cost:.4f}"
        if self.unpriced_calls and self.calls > self.unpriced_calls:
            cost += f" (+{self.unpriced_calls} calls without a known price)"
        return f"{self.calls} calls ({self.cached} cached), {cost}"
