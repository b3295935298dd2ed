"""The common part of providers reached through an official SDK over HTTP.

A subclass says how to build its SDK client, send one request, stream one and
translate the SDK's exceptions; this class adds credentials, timing, cost and
JSON parsing so every provider answers with the same fields.
"""

from __future__ import annotations

import asyncio
import importlib
import ipaddress
import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from promptlab_nb.core.errors import ContentFiltered, MissingCredentials, ProviderError
from promptlab_nb.engine.providers.base import ChatRequest, ChatResponse, Provider
from promptlab_nb.engine.providers.credentials import ApiKey, find_api_key, first_env_value
from promptlab_nb.engine.providers.pricing import Price, PriceTable
from promptlab_nb.engine.providers.structured import FILTERED, parse_json_if_asked

DEFAULT_TIMEOUT = 120.0
Transport = Literal["aiohttp", "httpx"]
Result = TypeVar("Result")


def sdk_http_client(sdk: ModuleType, transport: Transport) -> Any:
    """The HTTP client for an openai or anthropic SDK client: aiohttp, the cheaper in CPU per
    call (bench/README.md), or the SDK's default httpx."""
    return sdk.DefaultAioHttpClient() if transport == "aiohttp" else sdk.DefaultAsyncHttpxClient()


@dataclass(slots=True)
class Reply:
    """What a provider said, before timing and cost are added."""

    text: str
    finish_reason: str | None
    input_tokens: int | None
    output_tokens: int | None
    request_id: str | None


@dataclass(slots=True)
class Chunk:
    """A piece of a streamed answer; the last one carries the finish reason."""

    text: str
    finish_reason: str | None = None


class RemoteProvider(Provider):
    """Options: ``api_key`` (prefer the environment variable), ``base_url``, ``timeout`` in
    seconds and ``prices`` (see pricing). The SDK client is created on first use, on the
    running event loop, with the SDK's own retries off: the runner retries."""

    sdk_modules: tuple[str, ...] = ()
    env_vars: tuple[str, ...] = ()
    base_url_env_vars: tuple[str, ...] = ()
    default_base_url: str | None = None
    needs_api_key = True

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        prices: Mapping[str, Any] | None = None,
    ):
        self._api_key = find_api_key(api_key, self.env_vars)
        self._base_url = base_url or first_env_value(self.base_url_env_vars) or self.default_base_url
        self._timeout = float(timeout)
        self._prices = PriceTable(self.name, prices)
        self._client: Any = None

    @property
    def base_url(self) -> str | None:
        return self._base_url

    @property
    def endpoint(self) -> str:
        if self._base_url is None or self._base_url == self.default_base_url:
            return ""
        return endpoint_identity(self._base_url)

    @property
    def key_hint(self) -> str:
        """Where the user puts this provider's key, for error messages."""
        return self.env_var or f"the api_key option of PromptLab.providers[{self.name!r}]"

    def has_credentials(self) -> bool:
        return self._api_key is not None or not self.needs_api_key

    def known_models(self) -> list[str]:
        return self._prices.models()

    def price(self, model: str) -> Price | None:
        return self._prices.price(model)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        client = await self._ready_client()
        started = time.perf_counter()
        try:
            reply = await self._send(client, request)
        except ProviderError:
            raise
        except Exception as error:
            raise self._translated(error) from error
        return self._response(request, reply, latency_ms=(time.perf_counter() - started) * 1000)

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        client = await self._ready_client()
        answered, finish_reason = False, None
        try:
            async for chunk in self._stream_chunks(client, request):
                answered, finish_reason = answered or bool(chunk.text), chunk.finish_reason or finish_reason
                if chunk.text:
                    yield chunk.text
        except ProviderError:
            raise
        except Exception as error:
            raise self._translated(error) from error
        self._refuse_if_filtered(finish_reason, answered)

    async def _batch_call(self, operation: Callable[[Any], Awaitable[Result]]) -> Result:
        """One call of the SDK's batch API with the SDK client; its failures are translated like a chat call's."""
        client = await self._batch_client()
        try:
            return await operation(client)
        except ProviderError:
            raise
        except Exception as error:
            raise self._translated(error) from error

    async def _batch_client(self) -> Any:
        """The client batch calls go through: the SDK client of chat calls."""
        return await self._ready_client()

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await self._close_client(client)

    async def _ready_client(self) -> Any:
        """The SDK client, created on first use; the SDK is imported in a thread meanwhile, as
        importing it takes up to a second that would otherwise stall every task on the loop."""
        if self._client is None:
            self.check_configured()
            await asyncio.to_thread(_import_all, self.sdk_modules)
        if self._client is None:
            self._client = self._create_client(self._api_key)
        return self._client

    def check_configured(self) -> None:
        """Raise MissingCredentials (naming where the key goes) before anything is sent."""
        if self.needs_api_key and self._api_key is None:
            raise MissingCredentials(self.name, self.key_hint)

    def _refuse_if_filtered(self, finish_reason: str | None, answered: bool) -> None:
        if finish_reason == FILTERED and not answered:
            raise ContentFiltered(
                f"{self.name} withheld the answer: its content filter stopped it.", provider=self.name
            )

    def _response(self, request: ChatRequest, reply: Reply, latency_ms: float) -> ChatResponse:
        self._refuse_if_filtered(reply.finish_reason, bool(reply.text))
        return ChatResponse(
            text=reply.text,
            parsed=parse_json_if_asked(reply.text, request.response_format),
            finish_reason=reply.finish_reason,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            latency_ms=latency_ms,
            cost=self._prices.cost(request.model, reply.input_tokens, reply.output_tokens),
            request_id=reply.request_id,
        )

    def _translated(self, error: Exception) -> ProviderError:
        """The domain error for ``error``; anything unforeseen is a failed call, not retried."""
        translated = self._domain_error(error) or ProviderError(
            f"{self.name} call failed: {type(error).__name__}: {error}", provider=self.name
        )
        if self._api_key is not None:
            translated.args = (self._api_key.scrub(str(translated)),)
        return translated

    @abstractmethod
    def _create_client(self, api_key: ApiKey | None) -> Any:
        """The SDK's async client, retries off."""

    @abstractmethod
    async def _send(self, client: Any, request: ChatRequest) -> Reply: ...

    @abstractmethod
    def _stream_chunks(self, client: Any, request: ChatRequest) -> AsyncIterator[Chunk]: ...

    @abstractmethod
    def _domain_error(self, error: Exception) -> ProviderError | None:
        """The domain error for an SDK exception, None for anything else."""

    async def _close_client(self, client: Any) -> None:
        await client.close()


def endpoint_identity(base_url: str) -> str:
    """A base URL as the identity of its server: scheme, host, port and path, without a user,
    password, query or fragment (where credentials may hide)."""
    parts = urlsplit(base_url.strip())
    hostname = parts.hostname or ""
    host = (f"[{hostname}]" if ":" in hostname else hostname) + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme.lower(), host, parts.path.rstrip("/"), "", ""))


def is_local_url(url: str | None) -> bool:
    """Whether ``url`` points at this machine or the local network (a free, self-hosted server)."""
    host = urlsplit(url or "").hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host or host.endswith((".localhost", ".local", ".internal"))
    return address.is_loopback or address.is_private or address.is_link_local


def _import_all(modules: tuple[str, ...]) -> None:
    for module in modules:
        importlib.import_module(module)


def given_params(request: ChatRequest) -> dict[str, Any]:
    """The request's generation params without the ones left unset (None)."""
    return {name: value for name, value in request.params.items() if value is not None}
