"""OpenAI and servers that speak its chat completions API (Ollama, vLLM, LM Studio, llama.cpp)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, get_args

from promptlab_nb.core.errors import ProviderError, ProviderNotConfigured
from promptlab_nb.core.vocabulary import BatchStatus
from promptlab_nb.engine.providers.base import ChatRequest
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
    given_params,
    is_local_url,
    sdk_http_client,
)
from promptlab_nb.engine.providers.structured import (
    CALLED_TOOL,
    FILTERED,
    FINISHED,
    TRUNCATED,
    json_schema_of,
    schema_name,
)

if TYPE_CHECKING:
    from promptlab_nb.engine.providers.raw_chat import RawChatCompletions

_FINISH_REASONS = {"stop": FINISHED, "length": TRUNCATED, "content_filter": FILTERED, "tool_calls": CALLED_TOOL}
_UNUSED_KEY = "unused"
CHAT_COMPLETIONS = "/v1/chat/completions"
OPENAI_BASE_URL = "https://api.openai.com/v1"
OpenAITransport = Literal["aiohttp", "httpx", "raw"]
_BATCH_STATES = {
    "validating": BatchStatus.IN_PROGRESS,
    "in_progress": BatchStatus.IN_PROGRESS,
    "finalizing": BatchStatus.IN_PROGRESS,
    "cancelling": BatchStatus.IN_PROGRESS,
    "completed": BatchStatus.ENDED,
    "failed": BatchStatus.FAILED,
    "expired": BatchStatus.EXPIRED,
    "cancelled": BatchStatus.CANCELLED,
}


class OpenAIProvider(RemoteProvider):
    """``openai:<model>``. Key from OPENAI_API_KEY, base URL from OPENAI_BASE_URL, or the options.
    ``transport``: ``"aiohttp"`` (default) or ``"httpx"`` under the official SDK, or ``"raw"``: chat
    calls sent as plain JSON on one pooled aiohttp session, without the SDK (``raw_chat``), for fast
    local servers; batches still go through the SDK."""

    default_transport: OpenAITransport = "aiohttp"

    name = "openai"
    env_var: str | None = "OPENAI_API_KEY"
    batch_limits: BatchLimits | None = BatchLimits(max_requests=50_000, max_bytes=200 * 1024 * 1024)
    sdk_modules = ("openai",)
    env_vars: tuple[str, ...] = ("OPENAI_API_KEY",)
    base_url_env_vars: tuple[str, ...] = ("OPENAI_BASE_URL",)
    max_tokens_param = "max_completion_tokens"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        prices: Mapping[str, Any] | None = None,
        transport: OpenAITransport | None = None,
    ):
        super().__init__(api_key=api_key, base_url=base_url, timeout=timeout, prices=prices)
        self._transport = transport or self.default_transport
        if self._transport not in get_args(OpenAITransport):
            choices = ", ".join(map(repr, get_args(OpenAITransport)))
            raise ValueError(f"transport is one of {choices}, not {self._transport!r}")
        self._raw: RawChatCompletions | None = None

    @property
    def transport(self) -> OpenAITransport:
        return self._transport

    def _create_client(self, api_key: ApiKey | None) -> Any:
        import openai

        return openai.AsyncOpenAI(
            api_key=api_key.reveal() if api_key else _UNUSED_KEY,
            base_url=self._base_url,
            timeout=self._timeout,
            max_retries=0,
            http_client=sdk_http_client(openai, "httpx" if self._transport == "httpx" else "aiohttp"),
        )

    async def _ready_client(self) -> Any:
        """The raw client for chat calls on the raw transport (no SDK imported), else the SDK's."""
        if self._transport != "raw":
            return await super()._ready_client()
        if self._raw is None:
            self.check_configured()
            from promptlab_nb.engine.providers.raw_chat import RawChatCompletions

            self._raw = RawChatCompletions(self._base_url or OPENAI_BASE_URL, self._api_key, self._timeout)
        return self._raw

    async def _batch_client(self) -> Any:
        """Batches go through the SDK whatever the transport of chat calls."""
        return await super()._ready_client()

    async def aclose(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            await raw.close()
        await super().aclose()

    async def _send(self, client: Any, request: ChatRequest) -> Reply:
        """One completion with the JSON body as is, through the raw client or the SDK's (auth, transport,
        errors): the SDK's typed request transform and response models cost about 0.45 ms of CPU a call."""
        if self._raw is not None and client is self._raw:
            completion = await client.send(self._body(request))
        else:
            completion = await client.post("/chat/completions", body=self._body(request), cast_to=object)
        choice = completion["choices"][0]
        message = choice.get("message") or {}
        usage = completion.get("usage") or {}
        return Reply(
            text=message.get("content") or "",
            finish_reason=_finish_reason(message, choice),
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
            request_id=completion.get("id"),
        )

    async def _stream_chunks(self, client: Any, request: ChatRequest) -> AsyncIterator[Chunk]:
        if self._raw is not None and client is self._raw:
            async for event in client.events(self._body(request)):
                if event.get("choices"):
                    choice = event["choices"][0]
                    content = (choice.get("delta") or {}).get("content") or ""
                    yield Chunk(content, _FINISH_REASONS.get(choice.get("finish_reason") or ""))
            return
        async with await client.chat.completions.create(**self._arguments(request), stream=True) as events:
            async for event in events:
                if event.choices:
                    choice = event.choices[0]
                    yield Chunk(choice.delta.content or "", _FINISH_REASONS.get(choice.finish_reason or ""))

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        arguments = self._arguments(request)
        return {**arguments.pop("extra_body", {}), **arguments}

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        params = given_params(request)
        arguments: dict[str, Any] = {"model": request.model, "messages": request.messages}
        if "max_tokens" in params:
            arguments[self.max_tokens_param] = params.pop("max_tokens")
        arguments.update(
            {name: params.pop(name) for name in ("temperature", "top_p", "stop", "seed") if name in params}
        )
        if params:
            arguments["extra_body"] = params
        if request.response_format is not None:
            arguments["response_format"] = _response_format(request.response_format)
        return arguments

    def batch_line(self, custom_id: str, request: ChatRequest) -> BatchLine:
        return {"custom_id": custom_id, "method": "POST", "url": CHAT_COMPLETIONS, "body": self._body(request)}

    async def submit_batch(self, model: str, lines: list[BatchLine], intent: BatchIntent) -> BatchState:
        """Upload the lines as a JSONL file, then start a batch on it with a 24 hour window."""
        content = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines).encode()

        async def submit(client: Any) -> Any:
            uploaded = await client.files.create(file=("promptlab-batch.jsonl", content), purpose="batch")
            return await client.batches.create(
                input_file_id=uploaded.id,
                endpoint=CHAT_COMPLETIONS,
                completion_window="24h",
                metadata=intent.metadata,
            )

        return _batch_state(await self._batch_call(submit))

    async def find_batch(self, intent: BatchIntent) -> BatchState | None:
        """The batch whose metadata carries the intent's tag, among those listed newest first."""

        async def find(client: Any) -> Any:
            async for batch in client.batches.list(limit=100):
                if intent.is_tagged_on(batch.metadata):
                    return batch
                if intent.predates(datetime.fromtimestamp(batch.created_at, UTC)):
                    return None
            return None

        found = await self._batch_call(find)
        return _batch_state(found) if found is not None else None

    async def batch_state(self, batch_id: str) -> BatchState:
        return _batch_state(await self._batch_call(lambda client: client.batches.retrieve(batch_id)))

    async def cancel_batch(self, batch_id: str) -> BatchState:
        return _batch_state(await self._batch_call(lambda client: client.batches.cancel(batch_id)))

    async def batch_outcomes(self, batch_id: str) -> list[BatchOutcome]:
        """The answers (output file) and the failures (error file) of a finished batch."""

        async def read(client: Any) -> list[BatchOutcome]:
            batch = await client.batches.retrieve(batch_id)
            outcomes = []
            for file_id in (batch.output_file_id, batch.error_file_id):
                if file_id:
                    content = await client.files.content(file_id)
                    outcomes.extend(outcomes_from_jsonl(content.text, self._outcome))
            return outcomes

        return await self._batch_call(read)

    def _outcome(self, line: dict[str, Any]) -> BatchOutcome:
        response = line.get("response") or {}
        if line.get("error") or response.get("status_code") != 200:
            return BatchOutcome(line["custom_id"], error=self._line_error(line, response))
        body = response["body"]
        choice, usage = body["choices"][0], body.get("usage") or {}
        message = choice["message"]
        return BatchOutcome(
            line["custom_id"],
            text=message.get("content") or "",
            finish_reason=_finish_reason(message, choice),
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
            request_id=response.get("request_id") or body.get("id"),
        )

    def _line_error(self, line: dict[str, Any], response: dict[str, Any]) -> str:
        error = line.get("error") or (response.get("body") or {}).get("error") or {}
        status = f" (HTTP {response['status_code']})" if response.get("status_code") else ""
        code = f" [{error['code']}]" if error.get("code") else ""
        return f"{self.name} batch request failed{status}: {error.get('message') or 'no reason given'}{code}"

    def _domain_error(self, error: Exception) -> ProviderError | None:
        if self._raw is not None:
            from promptlab_nb.engine.providers.raw_chat import raw_domain_error

            translated = raw_domain_error(error, self.name, self.key_hint, self._raw.base_url)
            if translated is not None:
                return translated
        if self._client is None:
            return None
        import openai

        if isinstance(error, openai.APIStatusError):
            return error_for_status(
                self.name, self.key_hint, error.status_code, _message_of(error), error.response.headers
            )
        if isinstance(error, openai.APITimeoutError) and not connection_refused(error):
            return timed_out(self.name)
        if isinstance(error, openai.APIConnectionError):
            return unreachable(self.name, f"{self._base_url or 'the default endpoint'} ({error.__cause__ or error})")
        return None


def _finish_reason(message: dict[str, Any], choice: dict[str, Any]) -> str | None:
    return FILTERED if message.get("refusal") else _FINISH_REASONS.get(choice.get("finish_reason") or "")


def _batch_state(batch: Any) -> BatchState:
    counts = batch.request_counts
    errors = [error.message for error in (batch.errors.data or [])] if batch.errors else []
    return BatchState(
        batch_id=batch.id,
        status=_BATCH_STATES.get(batch.status, BatchStatus.IN_PROGRESS),
        succeeded=counts.completed if counts else 0,
        failed=counts.failed if counts else 0,
        error="; ".join(str(message) for message in errors if message) or None,
    )


def _response_format(response_format: str | dict[str, Any]) -> dict[str, Any]:
    schema = json_schema_of(response_format)
    if schema is None:
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": {"name": schema_name(schema), "schema": schema}}


def _message_of(error: Any) -> str:
    body = error.body if isinstance(error.body, dict) else {}
    message = str(body.get("message") or error.message)
    return f"{message} [{error.code}]" if error.code else message


class OllamaProvider(OpenAIProvider):
    """``ollama:<model>``: a local Ollama server through its OpenAI-compatible API; no key needed."""

    name = "ollama"
    env_var = None
    batch_limits = None
    paid = False
    env_vars = ()
    base_url_env_vars = ()
    default_base_url = "http://localhost:11434/v1"
    needs_api_key = False
    max_tokens_param = "max_tokens"
    default_transport: OpenAITransport = "raw"


class OpenAICompatibleProvider(OpenAIProvider):
    """``openai-compatible:<model>``: vLLM, LM Studio, llama.cpp server... at the ``base_url`` option.
    ``paid``: whether the server charges for calls; by default, unless it is on this machine or the local network."""

    name = "openai-compatible"
    env_var = None
    batch_limits = None
    env_vars = ()
    base_url_env_vars = ()
    needs_api_key = False
    max_tokens_param = "max_tokens"
    default_transport: OpenAITransport = "raw"

    def __init__(self, *, paid: bool | None = None, **options: Any):
        super().__init__(**options)
        self.paid = paid if paid is not None else not is_local_url(self._base_url)

    def has_credentials(self) -> bool:
        return self._base_url is not None

    def check_configured(self) -> None:
        if self._base_url is None:
            raise ProviderNotConfigured(self.name, "base_url", "http://localhost:8000/v1")
