"""Anthropic's Messages API through the official SDK on its aiohttp transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from promptlab_nb.core.errors import ProviderError
from promptlab_nb.engine.providers.base import ChatRequest, Message
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


def _split_system(messages: list[Message]) -> tuple[str, list[Message]]:
    """Anthropic takes the system prompt apart from the conversation."""
    system = "\n\n".join(message["content"] for message in messages if message["role"] == "system")
    return system, [message for message in messages if message["role"] != "system"]
