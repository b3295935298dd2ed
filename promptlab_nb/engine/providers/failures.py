"""Turns what an HTTP API answered into the domain errors the runner understands."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from promptlab_nb.core.errors import (
    AuthenticationFailed,
    BadRequest,
    ContentFiltered,
    ContextTooLong,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)

_CONTEXT_TOO_LONG_MARKERS = (
    "context_length_exceeded",
    "context length",
    "context window",
    "prompt is too long",
    "too many tokens",
    "input token count",
    "maximum number of tokens",
)
_CONTENT_FILTERED_MARKERS = ("content_filter", "content_policy", "content management policy", "safety", "blocked")


def error_for_status(
    provider: str,
    env_var: str,
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> ProviderError:
    """The domain error for an HTTP error status; the provider's message is kept."""
    detail = f"{provider} answered HTTP {status}: {message}"
    if status in (401, 403):
        return AuthenticationFailed(provider, env_var, message)
    if status == 429:
        return RateLimited(detail, provider=provider, retry_after=retry_after_seconds(headers or {}))
    if status == 408:
        return ProviderTimeout(detail, provider=provider, status=status)
    if status == 409 or status >= 500:
        return ProviderUnavailable(detail, provider=provider, status=status)
    return rejected_request(provider, message, status)


def rejected_request(provider: str, message: str, status: int | None = None) -> BadRequest:
    """A request the provider will refuse again: too long, filtered, or otherwise wrong."""
    lowered = message.lower()
    detail = f"{provider} refused the request" + (f" (HTTP {status})" if status else "") + f": {message}"
    if status == 413 or any(marker in lowered for marker in _CONTEXT_TOO_LONG_MARKERS):
        return ContextTooLong(detail, provider=provider, status=status)
    if any(marker in lowered for marker in _CONTENT_FILTERED_MARKERS):
        return ContentFiltered(detail, provider=provider, status=status)
    return BadRequest(detail, provider=provider, status=status)


def timed_out(provider: str) -> ProviderTimeout:
    return ProviderTimeout(f"{provider} did not answer in time.", provider=provider)


def unreachable(provider: str, reason: str) -> ProviderUnavailable:
    return ProviderUnavailable(f"Could not reach {provider}: {reason}", provider=provider)


def connection_refused(error: BaseException) -> bool:
    """Whether a refused connection lies behind ``error``: some transports report it as a timeout."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ConnectionError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    if (milliseconds := _as_float(lowered.get("retry-after-ms"))) is not None:
        return milliseconds / 1000
    value = lowered.get("retry-after")
    if value is None:
        return None
    seconds = _as_float(value)
    return seconds if seconds is not None else _seconds_until(value)


def _as_float(value: str | None) -> float | None:
    """A wait in the header's unit: never negative; infinite stays infinite (the policy refuses it)."""
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return None if number is None or math.isnan(number) else max(0.0, number)


def _seconds_until(http_date: str) -> float | None:
    try:
        return max(0.0, parsedate_to_datetime(http_date).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
