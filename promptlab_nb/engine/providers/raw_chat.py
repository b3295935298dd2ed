"""The chat completions API over one pooled aiohttp session, without an SDK: the raw path to local
OpenAI-compatible servers (vLLM, Ollama, llama.cpp, LM Studio).

The openai SDK costs about 0.9 ms of CPU per call, which bounds one event loop near 1,000 calls a
second (bench/README.md). This client sends the same JSON body and reads the answer with orjson; the
provider turns what it raises into the same domain errors as the SDK's (``raw_domain_error``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson

from promptlab_nb.core.errors import ProviderError
from promptlab_nb.engine.providers.credentials import ApiKey
from promptlab_nb.engine.providers.failures import error_for_status, timed_out, unreachable

_EVENT_PREFIX = b"data:"
_LAST_EVENT = b"[DONE]"


class RawStatusError(Exception):
    """The server answered an HTTP error status; ``message`` is its own explanation."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str]):
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.message, self.headers = status, message, headers


class RawChatCompletions:
    """POST ``{base_url}/chat/completions`` on one keep-alive session, created on the running loop.
    The engine's limits bound the calls in flight, so the session's pool does not (aiohttp's default is 100)."""

    def __init__(self, base_url: str, api_key: ApiKey | None, timeout: float):
        self.base_url = base_url
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        authorization = {"Authorization": f"Bearer {api_key.reveal()}"} if api_key else {}
        self._headers = {"Content-Type": "application/json", "Accept": "application/json", **authorization}
        self._stream_headers = {**self._headers, "Accept": "text/event-stream"}
        self._session: aiohttp.ClientSession | None = None

    async def send(self, body: dict[str, Any]) -> Any:
        """The server's JSON answer to one completion request."""
        async with self._post(body, self._headers) as response:
            payload = await response.read()
            if response.status >= 400:
                raise RawStatusError(response.status, error_message(payload), response.headers)
        return orjson.loads(payload)

    async def events(self, body: dict[str, Any]) -> AsyncIterator[Any]:
        """The events of a streamed completion (server-sent events), until ``[DONE]``."""
        async with self._post({**body, "stream": True}, self._stream_headers) as response:
            if response.status >= 400:
                raise RawStatusError(response.status, error_message(await response.read()), response.headers)
            async for line in response.content:
                data = line.strip()
                if not data.startswith(_EVENT_PREFIX):
                    continue
                data = data[len(_EVENT_PREFIX) :].strip()
                if data == _LAST_EVENT:
                    return
                yield orjson.loads(data)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _post(self, body: dict[str, Any], headers: Mapping[str, str]) -> Any:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session.post(self._url, data=orjson.dumps(body), headers=headers)


def raw_domain_error(error: Exception, provider: str, key_hint: str, base_url: str) -> ProviderError | None:
    """What the SDK path gives for the same failure: the status's error, a timeout, an unreachable
    server; None for anything else (an answer of unexpected shape is a failed call, not retried)."""
    if isinstance(error, RawStatusError):
        return error_for_status(provider, key_hint, error.status, error.message, error.headers)
    if isinstance(error, TimeoutError):
        return timed_out(provider)
    if isinstance(error, aiohttp.ClientError):
        return unreachable(provider, f"{base_url} ({error})")
    return None


def error_message(payload: bytes) -> str:
    """The message of an error answer (OpenAI's ``{"error": {"message", "code"}}``), else its text."""
    try:
        decoded = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload.decode(errors="replace").strip()[:500] or "no message"
    error = decoded.get("error", decoded) if isinstance(decoded, dict) else decoded
    if not isinstance(error, dict):
        return str(error)[:500]
    message = str(error.get("message") or error.get("detail") or decoded)
    return f"{message} [{error['code']}]" if error.get("code") else message
