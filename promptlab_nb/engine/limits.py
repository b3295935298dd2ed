"""Concurrency limits, request/token rate limits and retries with backoff for provider calls."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from aiolimiter import AsyncLimiter

from promptlab_nb.core.errors import ProviderError, ProviderTimeout, RetryAfterTooLong

T = TypeVar("T")


def requests_limiter(per_minute: float) -> AsyncLimiter:
    """One request every ``60 / per_minute`` seconds: spaced, never a burst."""
    return AsyncLimiter(1, 60.0 / per_minute)


def tokens_limiter(per_minute: float) -> AsyncLimiter:
    """Up to ``per_minute`` tokens at once, refilled continuously over a minute, as providers count them."""
    return AsyncLimiter(per_minute, 60.0)


@dataclass
class RetryPolicy:
    """``max_wait``: the longest Retry-After honoured; a provider asking for more fails the call."""

    max_retries: int = 4
    timeout: float = 120.0
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_wait: float = 120.0

    def delay(self, failures: int, error: BaseException) -> float:
        """The wait after ``failures`` failed attempts: exponential backoff times a jitter of 0.5 to 1.5,
        at least the provider's Retry-After."""
        backoff = min(self.max_delay, self.base_delay * 2 ** (failures - 1)) * (0.5 + random.random())
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
            name: requests_limiter(limits["rpm"]) for name, limits in (rate_limits or {}).items() if limits.get("rpm")
        }
        self._tokens = {
            name: tokens_limiter(limits["tpm"]) for name, limits in (rate_limits or {}).items() if limits.get("tpm")
        }

    def slot(self, provider: str, estimated_tokens: int = 0) -> AbstractAsyncContextManager[Any]:
        """A place among the calls in flight, paced by the provider's rate limits; a provider without
        limits of its own takes the global semaphore alone (most calls, at a tenth of the cost)."""
        if self.limits_of_its_own(provider):
            return self._limited_slot(provider, estimated_tokens)
        return self._global

    def limits_of_its_own(self, provider: str) -> bool:
        """Whether ``provider`` has a concurrency or rate limit of its own, which every call must go through."""
        return provider in self._per_provider or provider in self._requests or provider in self._tokens

    @asynccontextmanager
    async def _limited_slot(self, provider: str, estimated_tokens: int):
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
            tokens = self._tokens[provider]
            await tokens.acquire(min(estimated_tokens, tokens.max_rate))


@dataclass(slots=True)
class _Deadline:
    at: float
    task: asyncio.Task
    done: bool = False
    expired: bool = False


class Deadlines:
    """The time limit of many calls, with one timer: every call has the same limit, so calls started later
    end later, and a queue in start order with a timer for its head does what a timer per call did
    (``asyncio.timeout``: a tenth of the engine's time per run on an offline model)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._queue: deque[_Deadline] = deque()
        self._timer: asyncio.TimerHandle | None = None

    async def within(self, awaitable: Awaitable[T]) -> T:
        """``awaitable``, cancelled once the limit has passed and raised as ProviderTimeout."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a time limit needs a running task")
        loop = asyncio.get_running_loop()
        deadline = _Deadline(loop.time() + self.seconds, task)
        self._enqueue(deadline, loop)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if deadline.expired and task.uncancel() == 0:
                raise ProviderTimeout(f"no answer within {self.seconds:g} s") from None
            raise
        finally:
            deadline.done = True

    def _enqueue(self, deadline: _Deadline, loop: asyncio.AbstractEventLoop) -> None:
        queue = self._queue
        while queue and queue[0].done:
            queue.popleft()
        queue.append(deadline)
        if self._timer is None:
            self._timer = loop.call_at(queue[0].at, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        queue, now = self._queue, loop.time()
        while queue and (queue[0].done or queue[0].at <= now):
            deadline = queue.popleft()
            if not deadline.done:
                deadline.expired = True
                deadline.task.cancel()
        self._timer = loop.call_at(queue[0].at, self._expire, loop) if queue else None


async def within(awaitable: Awaitable[T], seconds: float) -> T:
    """One call within ``seconds``, raised as ProviderTimeout past them."""
    return await Deadlines(seconds).within(awaitable)


async def with_retries(attempt_call: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    """Retry retryable provider errors up to ``policy.max_retries`` times with exponential backoff and
    jitter, waiting at least as long as the provider's Retry-After (at most ``policy.max_wait``); other
    errors, and the last one, are raised."""
    failures = 0
    while True:
        try:
            return await _refusing_long_waits(attempt_call, policy)
        except ProviderError as error:
            failures += 1
            if not error.retryable or failures > policy.max_retries:
                raise
            await asyncio.sleep(policy.delay(failures, error))


async def _refusing_long_waits(attempt_call: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    try:
        return await attempt_call()
    except ProviderError as error:
        if error.retryable:
            policy.refuse_long_wait(error)
        raise
