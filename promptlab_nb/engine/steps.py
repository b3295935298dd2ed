"""A run is a chain of steps: each step renders its template with the variables so far,
calls its model and adds its output as a new variable for the steps after it."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from promptlab_nb.core.errors import PromptLabError, ProviderError
from promptlab_nb.core.vocabulary import RunStatus
from promptlab_nb.engine.cache import Acceptance, CacheKeys, ResponseCache, accept_any, cache_key
from promptlab_nb.engine.limits import Deadlines, Limits, RetryPolicy, with_retries
from promptlab_nb.engine.providers.base import GENERATION_PARAMS, ChatRequest, ChatResponse, Message, ModelSpec
from promptlab_nb.engine.providers.registry import ProviderRegistry
from promptlab_nb.engine.providers.structured import FILTERED, TRUNCATED
from promptlab_nb.engine.templating import PromptTemplate

_FENCED_JSON = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


@dataclass(slots=True)
class StepRecord:
    position: int
    name: str
    template: str
    model: str
    status: RunStatus = RunStatus.OK
    messages: list[dict[str, str]] | None = None
    output: str | None = None
    parsed: Any = None
    error: str | None = None
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    cache_hit: bool = False
    request_id: str | None = None


@dataclass
class RunContext:
    variables: dict[str, Any]
    repeat: int
    steps: list[StepRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """A first step's request rendered before the run, with its cache key (both needed for the estimate)."""

    request: ChatRequest
    key: str


class StepFailed(Exception):
    def __init__(self, record: StepRecord):
        super().__init__(record.error)
        self.record = record


class Caller(Protocol):
    """What a step needs to get an answer: the model caller, or batch answers already collected.
    Only an answer ``accept`` takes is cached: a failed one is asked again next time."""

    async def call(
        self,
        spec: ModelSpec,
        request: ChatRequest,
        repeat: int,
        accept: Acceptance = accept_any,
        key: str | None = None,
    ) -> tuple[ChatResponse, bool]:
        """``key``: the request's cache key at the provider's server, when already computed."""
        ...

    def answer_at_once(
        self, spec: ModelSpec, request: ChatRequest, key: str, accept: Acceptance = accept_any
    ) -> tuple[ChatResponse, bool] | None:
        """``call``'s answer when it needs no waiting, else None (then ``call`` is awaited)."""
        ...


class ModelCaller:
    """One provider call: answered from the cache, or sent within the limits, with retries."""

    def __init__(
        self,
        registry: ProviderRegistry,
        limits: Limits,
        policy: RetryPolicy,
        cache: ResponseCache,
        stream_to: Callable[[str], Any] | None = None,
    ):
        self.registry, self.limits, self.policy, self.cache = registry, limits, policy, cache
        self.stream_to = stream_to
        self.calls = 0
        self._in_flight: dict[str, asyncio.Future] = {}
        self._deadlines = Deadlines(policy.timeout)

    async def call(
        self,
        spec: ModelSpec,
        request: ChatRequest,
        repeat: int,
        accept: Acceptance = accept_any,
        key: str | None = None,
    ) -> tuple[ChatResponse, bool]:
        """The response and whether it came without a new provider call (the cache, or an identical
        call already in flight, whose answer is shared). A new answer is cached when ``accept`` takes it."""
        if key is None:
            key = cache_key(spec, request, repeat, self.registry.get(spec.provider).endpoint)
        cached = self.cache.get(key)
        if cached is not None:
            return cached, True
        if key in self._in_flight:
            return as_cached(await asyncio.shield(self._in_flight[key])), True
        shared = asyncio.get_running_loop().create_future()
        self._in_flight[key] = shared
        try:
            response, from_cache = await self._fetch_or_send(key, spec, request)
            if not from_cache and accept(response):
                self.cache.put(key, spec, response)
            shared.set_result(response)
            return response, from_cache
        except BaseException as error:
            _share_failure(shared, error)
            raise
        finally:
            del self._in_flight[key]

    def answer_at_once(
        self, spec: ModelSpec, request: ChatRequest, key: str, accept: Acceptance = accept_any
    ) -> tuple[ChatResponse, bool] | None:
        """``call``'s answer without a coroutine when nothing needs waiting for: a cache hit, or a provider
        that answers at once (an offline model) with no limits of its own to keep, no identical call in
        flight and nothing streamed. None otherwise, and after a failure worth retrying: the call then goes
        through ``call``, which retries it. Other failures are raised as from ``call``."""
        cached = self.cache.get(key)
        if cached is not None:
            return cached, True
        if (
            self.stream_to
            or key in self._in_flight
            or not self.cache.settled(key)
            or self.limits.limits_of_its_own(spec.provider)
        ):
            return None
        try:
            response = self.registry.get(spec.provider).answer_at_once(request)
        except ProviderError as error:
            self.calls += 1
            if error.retryable and self.policy.max_retries:
                return None
            raise
        if response is None:
            return None
        self.calls += 1
        if accept(response):
            self.cache.put(key, spec, response)
        return response, False

    async def _fetch_or_send(self, key: str, spec: ModelSpec, request: ChatRequest) -> tuple[ChatResponse, bool]:
        cached = await self.cache.fetch(key)
        if cached is not None:
            if self.stream_to:
                self.stream_to(cached.text)
            return cached, True
        provider = self.registry.get(spec.provider)
        estimated = _estimated_tokens(request)
        send = self._streamed if self.stream_to else _completed

        async def attempt() -> ChatResponse:
            async with self.limits.slot(spec.provider, estimated):
                self.calls += 1
                return await self._deadlines.within(send(provider, request))

        return await with_retries(attempt, self.policy), False

    async def _streamed(self, provider, request: ChatRequest) -> ChatResponse:
        """Show the text as it arrives; token counts are not reported by a stream, so they stay unknown."""
        show = self.stream_to or _discard
        started = time.perf_counter()
        chunks = []
        async for chunk in provider.stream(request):
            chunks.append(chunk)
            show(chunk)
        return ChatResponse(
            text="".join(chunks), finish_reason="stop", latency_ms=(time.perf_counter() - started) * 1000
        )


def _discard(text: str) -> None:
    return None


async def _completed(provider, request: ChatRequest) -> ChatResponse:
    return await provider.complete(request)


def as_cached(response: ChatResponse) -> ChatResponse:
    return replace(response, latency_ms=0.0, cost=0.0)


def _share_failure(shared: asyncio.Future, error: BaseException) -> None:
    """Identical calls waiting on ``shared`` get the same failure; read here, it is never reported as unread."""
    if isinstance(error, Exception):
        shared.set_exception(error)
        shared.exception()
    else:
        shared.cancel()


def _estimated_tokens(request: ChatRequest) -> int:
    characters = sum(len(message["content"]) for message in request.messages)
    return characters // 4 + int(request.params.get("max_tokens") or 0)


def split_params(params: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Generation params for the request, and the response format (``"json"`` or a JSON schema)."""
    generation = {key: value for key, value in params.items() if key in GENERATION_PARAMS and value is not None}
    extra = {key: value for key, value in params.items() if key not in GENERATION_PARAMS and key != "response_format"}
    return {**generation, **extra}, params.get("response_format")


def parse_json_output(text: str) -> Any:
    fenced = _FENCED_JSON.match(text)
    return json.loads(fenced.group(1) if fenced else text)


class TemplateStep:
    """Render one template, call its model, and store the output under ``output_name``."""

    def __init__(
        self,
        position: int,
        name: str,
        template: PromptTemplate,
        template_ref: str,
        model: str,
        params: dict[str, Any],
        output_name: str | None = None,
        parse: str | None = None,
    ):
        self.position, self.name, self.template, self.template_ref = position, name, template, template_ref
        self.spec = ModelSpec.parse(model)
        self._model = str(self.spec)
        self.params, self.response_format = split_params(params)
        self.output_name, self.parse = output_name, parse
        self._keys: dict[str, CacheKeys] = {}

    def request(self, variables: dict[str, Any]) -> ChatRequest:
        return self.request_of(self.template.render(variables))

    def request_of(self, messages: list[Message]) -> ChatRequest:
        return ChatRequest(messages, self.spec.model, self.params, self.response_format)

    def prepared(self, messages: list[Message], repeat: int, endpoint: str) -> PreparedCall:
        """The call of these rendered messages, keyed for the server at ``endpoint``."""
        keys = self._keys.get(endpoint)
        if keys is None:
            keys = self._keys[endpoint] = CacheKeys(self.spec, self.params, self.response_format, endpoint)
        return PreparedCall(self.request_of(messages), keys.key(messages, repeat))

    async def handle(self, context: RunContext, caller: Caller, prepared: PreparedCall | None = None) -> None:
        """``prepared``: this step's call rendered ahead for the variables of ``context``."""
        record = self._started(context)
        try:
            request = prepared.request if prepared else self.request(context.variables)
            record.messages = request.messages
            response, record.cache_hit = await caller.call(
                self.spec, request, context.repeat, self.accepts, prepared.key if prepared else None
            )
        except PromptLabError as error:
            raise _failed(record, error) from error
        self._take_answer(context, record, response)

    def answered_at_once(self, context: RunContext, caller: Caller, prepared: PreparedCall) -> bool:
        """``handle`` without a coroutine, when the caller has the answer at once; False (and nothing
        recorded) when it has not. Raises StepFailed like ``handle``."""
        try:
            answer = caller.answer_at_once(self.spec, prepared.request, prepared.key, self.accepts)
        except PromptLabError as error:
            record = self._started(context)
            record.messages = prepared.request.messages
            raise _failed(record, error) from error
        if answer is None:
            return False
        record = self._started(context)
        record.messages = prepared.request.messages
        response, record.cache_hit = answer
        self._take_answer(context, record, response)
        return True

    def _started(self, context: RunContext) -> StepRecord:
        record = StepRecord(self.position, self.name, self.template_ref, self._model)
        context.steps.append(record)
        return record

    def _take_answer(self, context: RunContext, record: StepRecord, response: ChatResponse) -> None:
        self._record_response(record, response)
        if self.output_name:
            context.variables[self.output_name] = record.parsed if self.parse else record.output

    def accepts(self, response: ChatResponse) -> bool:
        """Whether an answer is whole and, when JSON was asked for, readable as JSON: only such answers are cached."""
        if response.finish_reason in (TRUNCATED, FILTERED):
            return False
        return not (self.parse == "json" or self.response_format) or _is_json(response)

    def _record_response(self, record: StepRecord, response: ChatResponse) -> None:
        record.output = response.text
        record.latency_ms, record.cost = response.latency_ms, response.cost
        record.input_tokens, record.output_tokens = response.input_tokens, response.output_tokens
        record.request_id = response.request_id
        record.parsed = response.parsed
        if self.parse == "json" or (self.response_format and record.parsed is None):
            try:
                record.parsed = parse_json_output(response.text)
            except ValueError as error:
                if self.parse == "json":
                    record.status, record.error = RunStatus.ERROR, f"output is not valid JSON ({error})"
                    raise StepFailed(record) from None


def _is_json(response: ChatResponse) -> bool:
    if response.parsed is not None:
        return True
    try:
        parse_json_output(response.text)
    except ValueError:
        return False
    return True


def _failed(record: StepRecord, error: PromptLabError) -> StepFailed:
    record.status, record.error = RunStatus.ERROR, f"{type(error).__name__}: {error}"
    return StepFailed(record)


class StepChain:
    """The steps of one run, in order; the first failure stops the chain and is recorded."""

    def __init__(self, steps: list[TemplateStep]):
        self.steps = steps

    async def run(self, context: RunContext, caller: Caller, first: PreparedCall | None = None) -> RunContext:
        """``first``: the first step's call, rendered ahead."""
        for step in self.steps:
            await step.handle(context, caller, first)
            first = None
        return context
