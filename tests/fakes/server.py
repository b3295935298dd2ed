"""One aiohttp server on 127.0.0.1 (ephemeral port) serving all three wire formats from a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

from aiohttp import web

from fakes import (
    anthropic_batch_server,
    anthropic_server,
    gemini_batch_server,
    gemini_server,
    openai_batch_server,
    openai_server,
)
from fakes.batch_book import CURRENT_BOOK, BatchBook
from fakes.script import CURRENT_SCRIPT, Script, script_of

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _delayed(request: web.Request, handler: Handler) -> web.StreamResponse:
    script = script_of(request)
    script.in_flight += 1
    script.max_in_flight = max(script.max_in_flight, script.in_flight)
    try:
        if script.latency:
            await asyncio.sleep(script.latency)
        return await handler(request)
    finally:
        script.in_flight -= 1


async def _list_batches(request: web.Request) -> web.StreamResponse:
    """``GET /v1/batches`` lists OpenAI's batches, or Gemini's for its SDK (which asks at v1)."""
    wire = gemini_batch_server if gemini_batch_server.is_asking(request) else openai_batch_server
    return await wire.list_batches(request)


def build_app(current_script: Callable[[], Script], current_book: Callable[[], BatchBook]) -> web.Application:
    app = web.Application(middlewares=[_delayed], client_max_size=256 * 1024 * 1024)
    app[CURRENT_SCRIPT] = current_script
    app[CURRENT_BOOK] = current_book
    wires = (gemini_batch_server, openai_server, anthropic_server, gemini_server)
    for wire in (*wires, openai_batch_server, anthropic_batch_server):
        app.add_routes(wire.routes())
    app.router.add_get("/v1/batches", _list_batches)
    return app


class FakeServer:
    """Start with ``with FakeServer() as server:``; ``server.script`` says what it answers."""

    def __init__(self, script: Script | None = None):
        self.script = script or Script()
        self.batches = BatchBook()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    def reset(self, **settings) -> Script:
        """A fresh script (and no batches) for the next test, keeping the server running."""
        self.script = Script(**settings)
        self.batches = BatchBook()
        return self.script

    def start(self) -> FakeServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _serve(self) -> None:
        self._runner = web.AppRunner(build_app(lambda: self.script, lambda: self.batches), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
