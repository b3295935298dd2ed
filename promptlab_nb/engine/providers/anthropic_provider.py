"""Anthropic's Messages API through the official SDK on its aiohttp transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from promptlab_nb.core.errors import ProviderError
from promptlab_nb.core.vocabulary import BatchStatus
from promptlab_nb.engine.providers.base import ChatRequest, Message
from promptlab_nb.engine.providers.batch_api import (
    BatchIntent,
    BatchLimits,
    BatchLine,
    BatchOutcome,
    BatchState,
    outcomes_from_jsonl,
)
from promptlab_nb.engine.providers.credentials import ApiKey
from promptlab_nb.engine.providers.failures import connection_refused, error_for_status, timed_out, unreachable
from promptlab_nb.engine.providers.remote import (
    DEFAULT_TIMEOUT,
    Chunk,
    RemoteProvider,
    Reply,
    Transport,
    given_params,
    sdk_http_client,
)
from promptlab_nb.engine.providers.structured import (
    CALLED_TOOL,
    FILTERED,
    FINISHED,
    TRUNCATED,
    json_schema_of,
)

DEFAULT_MAX_TOKENS = 4096
JSON_ONLY_INSTRUCTION = "Answer with one JSON object and nothing else."
_STOP_REASONS = {
    "end_turn": FINISHED,
    "stop_sequence": FINISHED,
    "max_tokens": TRUNCATED,
    "refusal": FILTERED,
    "tool_use": CALLED_TOOL,
}


class AnthropicProvider(RemoteProvider):
    """``anthropic:<model>``. Key from ANTHROPIC_API_KEY, base URL from ANTHROPIC_BASE_URL, or the options.

    The API needs ``max_tokens``: a request without it gets ``default_max_tokens``. The API has
    no ``seed``, so that parameter is left out; ``temperature``, ``top_p`` and other parameters
    the SDK no longer names are sent as they are, for the models that still take them. A JSON
    schema response format uses structured outputs; plain ``"json"`` adds an instruction to the
    system prompt. ``transport`` is ``"aiohttp"`` (default) or ``"httpx"``.
    """

    name = "anthropic"
    env_var = "ANTHROPIC_API_KEY"
    batch_limits = BatchLimits(max_requests=100_000, max_bytes=256 * 1024 * 1024)
    sdk_modules = ("anthropic",)
    env_vars = ("ANTHROPIC_API_KEY",)
    base_url_env_vars = ("ANTHROPIC_BASE_URL",)

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        prices: Mapping[str, Any] | None = None,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        transport: Transport = "aiohttp",
    ):
        super().__init__(api_key=api_key, base_url=base_url, timeout=timeout, prices=prices)
        self._default_max_tokens = default_max_tokens
        self._transport = transport

    def _create_client(self, api_key: ApiKey | None) -> Any:
        import anthropic

        return anthropic.AsyncAnthropic(
            api_key=api_key.reveal() if api_key else None,
            base_url=self._base_url,
            timeout=self._timeout,
            max_retries=0,
            http_client=sdk_http_client(anthropic, self._transport),
        )

    async def _send(self, client: Any, request: ChatRequest) -> Reply:
        message = await client.messages.create(**self._arguments(request))
        return Reply(
            text="".join(block.text for block in message.content if block.type == "text"),
            finish_reason=_STOP_REASONS.get(message.stop_reason or ""),
            input_tokens=message.usage.input_tokens,
            output_tokens=message.usage.output_tokens,
            request_id=message._request_id or message.id,
        )

    async def _stream_chunks(self, client: Any, request: ChatRequest) -> AsyncIterator[Chunk]:
        async with client.messages.stream(**self._arguments(request)) as events:
            async for text in events.text_stream:
                yield Chunk(text)
            final = await events.get_final_message()
            yield Chunk("", _STOP_REASONS.get(final.stop_reason or ""))

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        params = given_params(request)
        params.pop("seed", None)
        system, messages = _split_system(request.messages)
        arguments: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "max_tokens": params.pop("max_tokens", self._default_max_tokens),
        }
        if "stop" in params:
            stop = params.pop("stop")
            arguments["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        if params:
            arguments["extra_body"] = params
        if schema := json_schema_of(request.response_format):
            arguments["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        elif request.response_format is not None:
            system = "\n\n".join(part for part in (system, JSON_ONLY_INSTRUCTION) if part)
        if system:
            arguments["system"] = system
        return arguments

    def batch_line(self, custom_id: str, request: ChatRequest) -> BatchLine:
        arguments = self._arguments(request)
        return {"custom_id": custom_id, "params": {**arguments.pop("extra_body", {}), **arguments}}

    async def submit_batch(self, model: str, lines: list[BatchLine], intent: BatchIntent) -> BatchState:
        """Message batches keep no metadata: ``find_batch`` knows this one by its size and creation time."""
        return _batch_state(await self._batch_call(lambda client: client.messages.batches.create(requests=lines)))

    async def find_batch(self, intent: BatchIntent) -> BatchState | None:
        """The oldest batch of the intent's size created since it was recorded and not claimed by another."""

        async def find(client: Any) -> Any:
            candidates = []
            async for batch in client.messages.batches.list(limit=100):
                if intent.predates(batch.created_at):
                    break
                total = sum(dict(batch.request_counts).values())
                if intent.may_be(batch.id, total, batch.created_at):
                    candidates.append(batch)
            return min(candidates, key=lambda batch: batch.created_at, default=None)

        found = await self._batch_call(find)
        return _batch_state(found) if found is not None else None

    async def batch_state(self, batch_id: str) -> BatchState:
        return _batch_state(await self._batch_call(lambda client: client.messages.batches.retrieve(batch_id)))

    async def cancel_batch(self, batch_id: str) -> BatchState:
        return _batch_state(await self._batch_call(lambda client: client.messages.batches.cancel(batch_id)))

    async def batch_outcomes(self, batch_id: str) -> list[BatchOutcome]:
        """The results file, read line by line so that one malformed line spoils only its own request."""

        async def read(client: Any) -> str:
            async with client.messages.batches.with_streaming_response.results(batch_id) as response:
                return await response.text()

        return outcomes_from_jsonl(await self._batch_call(read), self._outcome)

    def _outcome(self, line: dict[str, Any]) -> BatchOutcome:
        custom_id, result = line["custom_id"], line["result"]
        if result["type"] != "succeeded":
            return BatchOutcome(custom_id, error=self._result_error(result))
        message = result["message"]
        return BatchOutcome(
            custom_id,
            text="".join(block["text"] for block in message["content"] if block["type"] == "text"),
            finish_reason=_STOP_REASONS.get(message.get("stop_reason") or ""),
            input_tokens=message["usage"]["input_tokens"],
            output_tokens=message["usage"]["output_tokens"],
            request_id=message.get("id"),
        )

    def _result_error(self, result: dict[str, Any]) -> str:
        if result["type"] == "errored":
            error = (result.get("error") or {}).get("error") or {}
            reason = error.get("message") or "no reason given"
            return f"{self.name} batch request failed: {reason} [{error.get('type')}]"
        if result["type"] == "canceled":
            return f"{self.name} cancelled this request with its batch before it ran"
        if result["type"] == "expired":
            return f"{self.name} batch expired (24 hours) before this request ran"
        return f"{self.name} batch gave an unknown result type {result['type']!r}"

    def _domain_error(self, error: Exception) -> ProviderError | None:
        import anthropic

        if isinstance(error, anthropic.APIStatusError):
            message = error.api_message or error.message
            return error_for_status(self.name, self.key_hint, error.status_code, message, error.response.headers)
        if isinstance(error, anthropic.APITimeoutError) and not connection_refused(error):
            return timed_out(self.name)
        if isinstance(error, anthropic.APIConnectionError):
            return unreachable(self.name, f"{self._base_url or 'the default endpoint'} ({error.__cause__ or error})")
        return None


def _batch_state(batch: Any) -> BatchState:
    counts = batch.request_counts
    failed = counts.errored + counts.canceled + counts.expired
    if batch.processing_status != "ended":
        status = BatchStatus.IN_PROGRESS
    elif batch.cancel_initiated_at is not None:
        status = BatchStatus.CANCELLED
    else:
        status = BatchStatus.EXPIRED if counts.expired else BatchStatus.ENDED
    return BatchState(batch_id=batch.id, status=status, succeeded=counts.succeeded, failed=failed)


def _split_system(messages: list[Message]) -> tuple[str, list[Message]]:
    """Anthropic takes the system prompt apart from the conversation."""
    system = "\n\n".join(message["content"] for message in messages if message["role"] == "system")
    return system, [message for message in messages if message["role"] != "system"]
