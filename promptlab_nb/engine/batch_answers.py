"""Runs sent through a provider's batch API: naming each request after its cell, cutting the
requests into batches within the provider's limits, and answering each run from its batch."""

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

_CUSTOM_ID = re.compile(r"^v(\d+)-r(\d+)-n(\d+)$")


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
    """Stands in for the model caller when runs are stored from batch results: every call is
    answered with what its batch returned (or fails with the provider's reason), and accepted answers
    are cached under the key of the server that answered. ``answers`` are keyed by ``cache_key``
    without a server: one batch holds the requests of one server."""

    def __init__(
        self, answers: Mapping[str, ChatResponse | ProviderError], cache: ResponseCache, registry: ProviderRegistry
    ):
        self.answers, self.cache, self.registry = answers, cache, registry

    async def call(
        self, spec: ModelSpec, request: ChatRequest, repeat: int, accept: Acceptance = accept_any
    ) -> tuple[ChatResponse, bool]:
        key = cache_key(spec, request, repeat)
        answer = self.answers[key]
        if isinstance(answer, ProviderError):
            raise answer
        if accept(answer):
            endpoint = self.registry.get(spec.provider).endpoint
            self.cache.put(cache_key(spec, request, repeat, endpoint), spec, answer)
        return answer, False
