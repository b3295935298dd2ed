"""The Lab a server uses: opened on first use, once per server, and reached from one worker thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from promptlab_nb._lab import Lab
from promptlab_nb.core.config import PromptLab
from promptlab_nb.store.database import DEFAULT_FILE, describe, resolve_url

ResultT = TypeVar("ResultT")


class LabStore:
    """Opens the Lab lazily from ``PromptLab.db_url`` (``$PROMPTLAB_URL``), else ``ROOT_DIR/promptlab.duckdb``.

    Store calls run on one worker thread so a store that waits for a lock never blocks the server's event loop.
    """

    def __init__(self, settings: PromptLab, root_dir: str | Path):
        self._settings = settings
        self._url = settings.db_url or str(Path(root_dir).expanduser() / DEFAULT_FILE)
        self._lab: Lab | None = None
        self._opening = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="promptlab-store")

    @classmethod
    def for_server(cls, server_app: Any) -> LabStore:
        return cls(PromptLab(config=server_app.config), server_app.root_dir)

    def describe(self) -> str:
        return describe(resolve_url(self._url))

    def _opened_lab(self) -> Lab:
        with self._opening:
            if self._lab is None:
                self._lab = Lab(self._url, settings=self._settings)
            return self._lab

    async def call(self, action: Callable[[Lab], ResultT]) -> ResultT:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, lambda: action(self._opened_lab()))
