"""Requests sent through a provider's batch API: naming each run's request after its cell (a judge's
after its content), cutting the requests into batches within the provider's limits, and answering
each call from its batch."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from promptlab_nb.core.errors import BatchItemFailed, ContentFiltered, ProviderError
from promptlab_nb.engine.cache import Acceptance, ResponseCache, accept_any, cache_key
from promptlab_nb.engine.providers.base import ChatRequest, ChatResponse, ModelSpec
from promptlab_nb.engine.providers.batch_api import BatchLimits, BatchLine, BatchOutcome
from promptlab_nb.engine.providers.pricing import Price
from promptlab_nb.engine.providers.registry import ProviderRegistry
from promptlab_nb.engine.providers.structured import FILTERED, parse_json_if_asked
from promptlab_nb.engine.steps import as_cached

_CUSTOM_ID = re.compile(r"^v(\d+)-r(\d+)-n(\d+)$")
_MAX_CUSTOM_ID = 64


@dataclass(frozen=True, slots=True)
class CellId:
    """One cell of an experiment: the variant's position, the data row and the repeat."""

    variant: int
    row: int
    repeat: int

    @property
    def custom_id(self) -> str:
        """The request's name in a batch (OpenAI and Anthropic take ``[A-Za-z0-9_-]{1,64}``)."""
        return f"v{self.variant}-r{self.row}-n{self.repeat}"

    @classmethod
    def parse(cls, custom_id: str) -> CellId | None:
        match = _CUSTOM_ID.match(custom_id)
        return cls(*(int(part) for part in match.groups())) if match else None


def judge_custom_id(key: str) -> str:
    """The name in a batch of a judge's request with the cache key ``key``: the same request (two
    pairs with the same outputs) is sent once, and a judge's request never reads as a run's cell."""
    return f"j{key}"[:_MAX_CUSTOM_ID]


def split_lines(lines: list[BatchLine], limits: BatchLimits) -> Iterator[list[BatchLine]]:
    """Consecutive groups of lines, each within the most requests and bytes one batch may hold."""
    group: list[BatchLine] = []
    size = 0
    for line in lines:
        line_size = len(json.dumps(line, ensure_ascii=False).encode()) + 1
        if group and (len(group) >= limits.max_requests or size + line_size > limits.max_bytes):
            yield group
            group, size = [], 0
        group.append(line)
        size += line_size
    if group:
        yield group


def response_of(outcome: BatchOutcome, request: ChatRequest, price: Price | None, provider: str) -> ChatResponse:
    """A batch answer as a run's response, at the batch price; a failed request raises the provider's reason."""
    if outcome.error is not None:
        raise BatchItemFailed(outcome.error, provider=provider)
    text = outcome.text or ""
    if outcome.finish_reason == FILTERED and not text:
        raise ContentFiltered(f"{provider} withheld the answer: its content filter stopped it.", provider=provider)
    return ChatResponse(
        text=text,
        parsed=parse_json_if_asked(text, request.response_format),
        finish_reason=outcome.finish_reason,
        input_tokens=outcome.input_tokens,
        output_tokens=outcome.output_tokens,
        cost=price.cost(outcome.input_tokens, outcome.output_tokens) if price else None,
        request_id=outcome.request_id,
    )


class BatchAnswers:
    """Stands in for the model caller when runs or a judge's verdicts are stored from batch results:
    every call is answered with what its batch returned (or fails with the provider's reason), and
    accepted answers are cached under the key of the server that answered. ``answers`` are keyed by
    ``cache_key`` without a server: one batch holds the requests of one server. A call its batches do
    not hold is answered from the cache (it was cached when the batch was sent), else it fails.
    ``sent_once``: each request was sent once however often it is asked (a judge's), so asking again
    gives the answer as a cached one, at no cost."""

    def __init__(
        self,
        answers: Mapping[str, ChatResponse | ProviderError],
        cache: ResponseCache,
        registry: ProviderRegistry,
        *,
        sent_once: bool = False,
    ):
        self.answers, self.cache, self.registry = answers, cache, registry
        self.sent_once = sent_once
        self._given: set[str] = set()

    async def call(
        self,
        spec: ModelSpec,
        request: ChatRequest,
        repeat: int,
        accept: Acceptance = accept_any,
        key: str | None = None,
    ) -> tuple[ChatResponse, bool]:
        """``key``: the cache key at the server, when already computed (the answers are keyed without one)."""
        answer_key = cache_key(spec, request, repeat)
        key = key or cache_key(spec, request, repeat, self.registry.get(spec.provider).endpoint)
        answer = self.answers.get(answer_key)
        if answer is None:
            return await self._cached(spec, key)
        if isinstance(answer, ProviderError):
            raise answer
        if self.sent_once and answer_key in self._given:
            return as_cached(answer), True
        self._given.add(answer_key)
        if accept(answer):
            self.cache.put(key, spec, answer)
        return answer, False

    def answer_at_once(
        self, spec: ModelSpec, request: ChatRequest, key: str, accept: Acceptance = accept_any
    ) -> tuple[ChatResponse, bool] | None:
        """Batch answers go through ``call``."""
        return None

    async def _cached(self, spec: ModelSpec, key: str) -> tuple[ChatResponse, bool]:
        cached = await self.cache.fetch(key)
        if cached is None:
            raise BatchItemFailed("no batch holds this request and no answer to it is cached", provider=spec.provider)
        return cached, True
