"""Google's Gemini API through the official google-genai SDK (aiohttp transport when installed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from promptlab_nb.core.errors import AuthenticationFailed, ProviderError, RateLimited
from promptlab_nb.core.vocabulary import BatchStatus
from promptlab_nb.engine.providers.base import ChatRequest, Message
from promptlab_nb.engine.providers.batch_api import (
    BatchIntent,
    BatchLimits,
    BatchLine,
    BatchOutcome,
    BatchState,
)
from promptlab_nb.engine.providers.credentials import ApiKey
from promptlab_nb.engine.providers.failures import (
    connection_refused,
    error_for_status,
    rejected_request,
    timed_out,
    unreachable,
)
from promptlab_nb.engine.providers.remote import Chunk, RemoteProvider, Reply, given_params
from promptlab_nb.engine.providers.structured import FILTERED, FINISHED, TRUNCATED, json_schema_of

_FINISH_REASONS = {
    "STOP": FINISHED,
    "MAX_TOKENS": TRUNCATED,
    "SAFETY": FILTERED,
    "RECITATION": FILTERED,
    "BLOCKLIST": FILTERED,
    "PROHIBITED_CONTENT": FILTERED,
    "SPII": FILTERED,
    "IMAGE_SAFETY": FILTERED,
}
_CONFIG_NAMES = {"max_tokens": "max_output_tokens", "stop": "stop_sequences"}
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_INVALID_KEY_MARKERS = ("API_KEY_INVALID", "API key not valid")
_BATCH_STATES = {
    "JOB_STATE_SUCCEEDED": BatchStatus.ENDED,
    "JOB_STATE_FAILED": BatchStatus.FAILED,
    "JOB_STATE_CANCELLED": BatchStatus.CANCELLED,
    "JOB_STATE_EXPIRED": BatchStatus.EXPIRED,
}


class GeminiProvider(RemoteProvider):
    """``gemini:<model>``. Key from GEMINI_API_KEY or GOOGLE_API_KEY, base URL from
    GOOGLE_GEMINI_BASE_URL, or the options. Thinking tokens count as output tokens, as billed.
    Batches go to the Gemini Developer API with inline requests (under 20 MB a batch; no Cloud Storage)."""

    name = "gemini"
    env_var = "GEMINI_API_KEY"
    batch_limits = BatchLimits(max_requests=100_000, max_bytes=20 * 1024 * 1024)
    sdk_modules = ("google.genai", "aiohttp")
    env_vars = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    base_url_env_vars = ("GOOGLE_GEMINI_BASE_URL",)

    def _create_client(self, api_key: ApiKey | None) -> Any:
        from google import genai
        from google.genai import types

        options = types.HttpOptions(
            base_url=self._base_url,
            timeout=int(self._timeout * 1000),
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        return genai.Client(api_key=api_key.reveal() if api_key else None, http_options=options).aio

    async def _send(self, client: Any, request: ChatRequest) -> Reply:
        response = await client.models.generate_content(**self._arguments(request))
        return _reply(response)

    async def _stream_chunks(self, client: Any, request: ChatRequest) -> AsyncIterator[Chunk]:
        async for response in await client.models.generate_content_stream(**self._arguments(request)):
            reply = _reply(response)
            yield Chunk(reply.text, reply.finish_reason)

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        from google.genai import types

        system = "\n\n".join(message["content"] for message in request.messages if message["role"] == "system")
        config = {_CONFIG_NAMES.get(name, name): value for name, value in given_params(request).items()}
        if isinstance(config.get("stop_sequences"), str):
            config["stop_sequences"] = [config["stop_sequences"]]
        if system:
            config["system_instruction"] = system
        if request.response_format is not None:
            config["response_mime_type"] = "application/json"
        if schema := json_schema_of(request.response_format):
            config["response_json_schema"] = schema
        return {
            "model": request.model,
            "contents": _contents(request.messages),
            "config": types.GenerateContentConfig(**config),
        }

    def batch_line(self, custom_id: str, request: ChatRequest) -> BatchLine:
        arguments = self._arguments(request)
        return {
            "custom_id": custom_id,
            "contents": arguments["contents"],
            "config": arguments["config"].model_dump(mode="json", exclude_none=True),
        }

    async def submit_batch(self, model: str, lines: list[BatchLine], intent: BatchIntent) -> BatchState:
        """One batch job of inline requests, each carrying its custom id as metadata, named after the intent."""
        requests = [
            {"contents": line["contents"], "config": line["config"], "metadata": {"custom_id": line["custom_id"]}}
            for line in lines
        ]
        config = {"display_name": intent.display_name}
        job = await self._batch_call(lambda client: client.batches.create(model=model, src=requests, config=config))
        return _batch_state(job)

    async def find_batch(self, intent: BatchIntent) -> BatchState | None:
        """The batch job named after the intent, among those listed newest first."""

        async def find(client: Any) -> Any:
            async for job in await client.batches.list(config={"page_size": 100}):
                if job.display_name == intent.display_name:
                    return job
                if job.create_time is not None and intent.predates(job.create_time):
                    return None
            return None

        found = await self._batch_call(find)
        return _batch_state(found) if found is not None else None

    async def batch_state(self, batch_id: str) -> BatchState:
        return _batch_state(await self._batch_call(lambda client: client.batches.get(name=batch_id)))

    async def cancel_batch(self, batch_id: str) -> BatchState:
        async def cancel(client: Any) -> Any:
            await client.batches.cancel(name=batch_id)
            return await client.batches.get(name=batch_id)

        return _batch_state(await self._batch_call(cancel))

    async def batch_outcomes(self, batch_id: str) -> list[BatchOutcome]:
        job = await self._batch_call(lambda client: client.batches.get(name=batch_id))
        answered = (job.dest.inlined_responses or []) if job.dest else []
        return [outcome for item in answered if (outcome := self._outcome(item)) is not None]

    def _outcome(self, item: Any) -> BatchOutcome | None:
        custom_id = (item.metadata or {}).get("custom_id")
        if custom_id is None:
            return None
        if item.error is not None or item.response is None:
            message = item.error.message if item.error else "no response"
            return BatchOutcome(custom_id, error=f"{self.name} batch request failed: {message}")
        reply = _reply(item.response)
        return BatchOutcome(
            custom_id,
            text=reply.text,
            finish_reason=reply.finish_reason,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            request_id=reply.request_id,
        )

    def _domain_error(self, error: Exception) -> ProviderError | None:
        import aiohttp
        import httpx2
        import pydantic
        from google.genai import errors

        if isinstance(error, errors.APIError):
            return self._status_error(error)
        if isinstance(error, TimeoutError | httpx2.TimeoutException) and not connection_refused(error):
            return timed_out(self.name)
        if isinstance(error, aiohttp.ClientError | httpx2.TransportError | OSError):
            return unreachable(self.name, f"{self._base_url or 'the default endpoint'} ({error})")
        if isinstance(error, pydantic.ValidationError):
            return rejected_request(self.name, str(error))
        return None

    def _status_error(self, error: Any) -> ProviderError:
        message = str(error.message or error)
        if any(marker in f"{message} {error.details}" for marker in _INVALID_KEY_MARKERS):
            return AuthenticationFailed(self.name, self.key_hint, message)
        headers = dict(getattr(error.response, "headers", None) or {})
        failure = error_for_status(self.name, self.key_hint, error.code, message, headers)
        if isinstance(failure, RateLimited) and failure.retry_after is None:
            failure.retry_after = _retry_delay(error.details)
        return failure

    async def _close_client(self, client: Any) -> None:
        await client.aclose()


def _batch_state(job: Any) -> BatchState:
    state = getattr(job.state, "value", job.state) or ""
    answered = (job.dest.inlined_responses or []) if job.dest else []
    failed = sum(1 for item in answered if item.error is not None)
    return BatchState(
        batch_id=job.name,
        status=_BATCH_STATES.get(state, BatchStatus.IN_PROGRESS),
        succeeded=len(answered) - failed,
        failed=failed,
        error=job.error.message if job.error else None,
    )


def _contents(messages: list[Message]) -> list[dict[str, Any]]:
    return [
        {"role": "model" if message["role"] == "assistant" else "user", "parts": [{"text": message["content"]}]}
        for message in messages
        if message["role"] != "system"
    ]


def _reply(response: Any) -> Reply:
    candidate = response.candidates[0] if response.candidates else None
    usage = response.usage_metadata
    return Reply(
        text=_text_of(candidate),
        finish_reason=_finish_reason(response, candidate),
        input_tokens=usage.prompt_token_count if usage else None,
        output_tokens=(usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0) if usage else None,
        request_id=response.response_id,
    )


def _text_of(candidate: Any) -> str:
    if candidate is None or candidate.content is None:
        return ""
    return "".join(part.text for part in candidate.content.parts or [] if part.text and not part.thought)


def _finish_reason(response: Any, candidate: Any) -> str | None:
    if candidate is None:
        blocked = response.prompt_feedback and response.prompt_feedback.block_reason
        return FILTERED if blocked else None
    reason = candidate.finish_reason
    return _FINISH_REASONS.get(getattr(reason, "value", reason)) if reason else None


def _retry_delay(details: Any) -> float | None:
    error = details.get("error", details) if isinstance(details, dict) else {}
    for detail in error.get("details", []) if isinstance(error, dict) else []:
        if detail.get("@type") == _RETRY_INFO:
            return _seconds(str(detail.get("retryDelay", "")))
    return None


def _seconds(duration: str) -> float | None:
    try:
        return float(duration.removesuffix("s"))
    except ValueError:
        return None
