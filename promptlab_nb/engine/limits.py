"""Concurrency limits, request/token rate limits and retries with backoff for provider calls."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from promptlab_nb.core.errors import ProviderError, ProviderTimeout, RetryAfterTooLong

T = TypeVar("T")


class RateLimiter:
    """Spaces acquisitions so that at most ``per_minute`` units pass in any minute (a leaky bucket)."""

    def __init__(self, per_minute: float):
        self._interval = 60.0 / per_minute
        self._next_free = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self, units: float = 1.0) -> None:
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next_free)
            self._next_free = start + units * self._interval
        if start > now:
            await asyncio.sleep(start - now)


@dataclass
class RetryPolicy:
    """``max_wait``: the longest Retry-After honoured; a provider asking for more fails the call."""

    max_retries: int = 4
    timeout: float = 120.0
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_wait: float = 120.0

    def delay(self, attempt: int, error: ProviderError) -> float:
        backoff = min(self.max_delay, self.base_delay * 2**attempt) * (0.5 + random.random())
        retry_after = getattr(error, "retry_after", None)
        return max(backoff, retry_after) if retry_after else backoff

    def refuse_long_wait(self, error: ProviderError) -> None:
        """Raise RetryAfterTooLong, saying when to come back, when ``error`` asks for more than ``max_wait``."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None and retry_after > self.max_wait:
            until = _clock_time_after(retry_after)
            raise RetryAfterTooLong(error.provider, retry_after, self.max_wait, until) from error


def _clock_time_after(seconds: float) -> str | None:
    """The UTC time ``seconds`` from now, None when that is never or beyond the calendar."""
    try:
        return f"{datetime.now(UTC) + timedelta(seconds=seconds):%Y-%m-%d %H:%M:%S} UTC"
    except OverflowError:
        return None


class Limits:
    """A global cap on calls in flight, optional caps per provider, and optional rpm / tpm limits."""

    def __init__(
        self,
        concurrency: int,
        per_provider: Mapping[str, int] | None = None,
        rate_limits: Mapping[str, Mapping[str, float]] | None = None,
    ):
        self._global = asyncio.Semaphore(concurrency)
        self._per_provider = {name: asyncio.Semaphore(limit) for name, limit in (per_provider or {}).items()}
        self._requests = {
            name: RateLimiter(limits["rpm"]) for name, limits in (rate_limits or {}).items() if limits.get("rpm")
        }
        self._tokens = {
            name: RateLimiter(limits["tpm"]) for name, limits in (rate_limits or {}).items() if limits.get("tpm")
        }

    @asynccontextmanager
    async def slot(self, provider: str, estimated_tokens: int = 0):
        provider_slot = self._per_provider.get(provider)
        async with self._global:
            if provider_slot is None:
                await self._pace(provider, estimated_tokens)
                yield
                return
            async with provider_slot:
                await self._pace(provider, estimated_tokens)
                yield

    async def _pace(self, provider: str, estimated_tokens: int) -> None:
        if provider in self._requests:
            await self._requests[provider].acquire()
        if provider in self._tokens and estimated_tokens:
            await self._tokens[provider].acquire(estimated_tokens)


async def within(awaitable: Awaitable[T], seconds: float) -> T:
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError:
        raise ProviderTimeout(f"no answer within {seconds:g} s") from None


async def with_retries(
    attempt_call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    on_retry: Callable[[ProviderError], Any] | None = None,
) -> T:
    """Retry retryable provider errors with exponential backoff and jitter, waiting at least as
    long as the provider's Retry-After (at most ``policy.max_wait``); other errors, and the last one, are raised."""
    attempt = 0
    while True:
        try:
            return await attempt_call()
        except ProviderError as error:
            if not error.retryable:
                raise
            policy.refuse_long_wait(error)
            if attempt >= policy.max_retries:
                raise
            if on_retry is not None:
                on_retry(error)
            await asyncio.sleep(policy.delay(attempt, error))
            attempt += 1
