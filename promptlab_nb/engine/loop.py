"""Running async work from synchronous code, also inside Jupyter where a loop already runs:
the work gets its own loop in a worker thread, and a KeyboardInterrupt cancels it cleanly.
``blocking`` makes the sync form of every async method of Lab and Experiment (``compare`` of ``acompare``)."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
POLL_SECONDS = 0.1


class _WorkerLoop:
    def __init__(self, make_coroutine: Callable[[], Coroutine[Any, Any, T]]):
        self._make_coroutine = make_coroutine
        self.result: Future = Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._started = threading.Event()

    def run(self) -> None:
        try:
            self.result.set_result(asyncio.run(self._main()))
        except BaseException as error:
            self.result.set_exception(error)
        finally:
            self._started.set()

    async def _main(self):
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._started.set()
        return await self._make_coroutine()

    def cancel(self) -> None:
        self._started.wait()
        if self._loop is not None and self._task is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._task.cancel)


def run_blocking(make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine to completion on a fresh loop in a worker thread. On KeyboardInterrupt the
    coroutine is cancelled and allowed to finish its cleanup: what it returns then is returned, and
    work that ends cancelled (after storing what it finished) raises the KeyboardInterrupt again."""
    worker = _WorkerLoop(make_coroutine)
    thread = threading.Thread(target=worker.run, name="promptlab-runner", daemon=True)
    thread.start()
    try:
        while True:
            try:
                return worker.result.result(timeout=POLL_SECONDS)
            except TimeoutError:
                continue
    except KeyboardInterrupt:
        worker.cancel()
        thread.join()
        try:
            return worker.result.result()
        except asyncio.CancelledError:
            raise KeyboardInterrupt from None


def blocking(
    coroutine_method: Callable[..., Coroutine[Any, Any, T]],
    *,
    in_calling_thread: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Callable[..., T]:
    """The synchronous form of an async method, run by ``run_blocking``, so it also works from a
    notebook cell. ``in_calling_thread`` may change the keyword arguments first, in the caller's
    thread (a widget displayed there lands in the running cell)."""

    @functools.wraps(coroutine_method)
    def run_to_completion(self: Any, *args: Any, **kwargs: Any) -> T:
        if in_calling_thread is not None:
            kwargs = in_calling_thread(kwargs)
        return run_blocking(lambda: coroutine_method(self, *args, **kwargs))

    async_name = coroutine_method.__name__
    run_to_completion.__name__ = async_name.removeprefix("a")
    run_to_completion.__qualname__ = coroutine_method.__qualname__.removesuffix(async_name) + run_to_completion.__name__
    return run_to_completion
