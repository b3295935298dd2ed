"""The provider strategy: one small async interface every model provider implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from promptlab_nb.core.errors import BatchNotSupported, InvalidModelSpec
from promptlab_nb.engine.providers.batch_api import BatchIntent, BatchLimits, BatchLine, BatchOutcome, BatchState
from promptlab_nb.engine.providers.pricing import Price

Message = dict[str, str]
GENERATION_PARAMS = ("temperature", "max_tokens", "top_p", "stop", "seed")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    provider: str
    model: str

    @classmethod
    def parse(cls, spec: str) -> ModelSpec:
        provider, sep, model = spec.partition(":")
        if not sep or not provider.strip() or not model.strip():
            raise InvalidModelSpec(
                f"Model {spec!r} is not of the form provider:model, e.g. openai:gpt-4o-mini or mock:echo."
            )
        return cls(provider.strip().lower(), model.strip())

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


@dataclass(slots=True)
class ChatRequest:
    """What to send: chat messages, the provider's model name and generation params.

    ``response_format`` is None, ``"json"`` (a JSON object) or a JSON schema dict.
    """

    messages: list[Message]
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    response_format: str | dict[str, Any] | None = None


@dataclass(slots=True)
class ChatResponse:
    text: str
    parsed: Any = None
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    cost: float | None = None
    request_id: str | None = None


class Provider(ABC):
    """A model provider. Instances are created per Lab and reused for many calls.

    A provider with a batch API sets ``batch_limits`` and implements the batch methods; one whose
    calls are never charged (offline, on this machine) sets ``paid = False``."""

    name: str = ""
    env_var: str | None = None
    batch_limits: BatchLimits | None = None
    paid = True
    """Whether calls may be charged: a paid call without a known price needs confirmation under a cost limit."""

    @abstractmethod
    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send one request; raise a ProviderError subclass on failure."""

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        response = await self.complete(request)
        yield response.text

    def answer_at_once(self, request: ChatRequest) -> ChatResponse | None:
        """The answer when it comes without waiting (an offline model with no latency and no error queued),
        else None: the call then goes through ``complete``. Fails as ``complete`` would."""
        return None

    @property
    def endpoint(self) -> str:
        """The server that answers, as part of the cache key: empty for the provider's default one.
        Never a credential."""
        return ""

    def has_credentials(self) -> bool:
        return True

    def check_configured(self) -> None:
        """Raise a ProviderError saying what to set when the provider cannot be called as configured."""
        return None

    def known_models(self) -> list[str]:
        return []

    def price(self, model: str) -> Price | None:
        """Dollars per million tokens for ``model``, None when unknown."""
        return None

    async def aclose(self) -> None:
        return None

    def batch_price(self, model: str) -> Price | None:
        """Dollars per million tokens for ``model`` in a batch, None when unknown."""
        price = self.price(model)
        return price.for_batch() if price else None

    def batch_line(self, custom_id: str, request: ChatRequest) -> BatchLine:
        """One request as a line of a batch."""
        raise BatchNotSupported(self.name)

    async def submit_batch(self, model: str, lines: list[BatchLine], intent: BatchIntent) -> BatchState:
        """Start a batch of ``lines``, tagged with ``intent`` where the provider keeps metadata."""
        raise BatchNotSupported(self.name)

    async def find_batch(self, intent: BatchIntent) -> BatchState | None:
        """The batch submitted for ``intent``, None when the provider has none."""
        raise BatchNotSupported(self.name)

    async def batch_state(self, batch_id: str) -> BatchState:
        raise BatchNotSupported(self.name)

    async def batch_outcomes(self, batch_id: str) -> list[BatchOutcome]:
        """The outcome of every line a finished batch answered; lines it did not answer are absent."""
        raise BatchNotSupported(self.name)

    async def cancel_batch(self, batch_id: str) -> BatchState:
        raise BatchNotSupported(self.name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
