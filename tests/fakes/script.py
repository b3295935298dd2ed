"""What the fake servers answer, in terms every wire format can render."""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

FAILURE_KINDS = ("auth", "rate_limit", "server", "bad_request", "context_too_long", "content_filtered", "malformed")
MALFORMED_BODY = {"unexpected": True}
RETRY_AFTER_SECONDS = 7


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Script:
    """The reply of every call, unless a failure is queued. ``finish`` is ``stop`` or ``length``.
    ``rate_limit_headers`` come with a rate limit failure (OpenAI and Anthropic wire formats)."""

    reply: str = "The capital of France is Paris."
    input_tokens: int = 12
    output_tokens: int = 7
    finish: str = "stop"
    latency: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0
    failures: deque[str] = field(default_factory=deque)
    rate_limit_headers: dict[str, str] = field(default_factory=lambda: {"Retry-After": str(RETRY_AFTER_SECONDS)})
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fail(self, kind: str, times: int = 1) -> None:
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure {kind!r}; one of {FAILURE_KINDS}")
        self.failures.extend([kind] * times)

    def record(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> str | None:
        """Remember the request; return the failure to answer with, if one is queued."""
        with self._lock:
            self.received.append(Received(path, headers, body))
            return self.failures.popleft() if self.failures else None

    def pieces(self) -> list[str]:
        """The reply cut into streamed chunks, a word (with its leading space) each."""
        return re.findall(r"\s*\S+", self.reply) or [""]

    @property
    def last(self) -> Received:
        return self.received[-1]


CURRENT_SCRIPT: web.AppKey = web.AppKey("current_script")


def script_of(request: web.Request) -> Script:
    return request.app[CURRENT_SCRIPT]()


async def received(request: web.Request) -> tuple[Script, str | None, dict[str, Any]]:
    """The script, the failure to answer with (if any) and the JSON body of a request."""
    script = script_of(request)
    body = await request.json()
    failure = script.record(request.path_qs, dict(request.headers), body)
    return script, failure, body


async def send_events(request: web.Request, events: list[bytes], headers: dict[str, str]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **headers})
    await response.prepare(request)
    for event in events:
        await response.write(event)
    await response.write_eof()
    return response


def sse(data: dict[str, Any], event: str | None = None) -> bytes:
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {json.dumps(data)}\n\n".encode()
