"""The Lab a server uses: opened on first use, once per server, and reached from one worker thread."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from promptlab_nb.core.config import PromptLab
from promptlab_nb.server.experiment_views import BestVariants

if TYPE_CHECKING:
    from promptlab_nb._lab import Lab

ResultT = TypeVar("ResultT")


class LabStore:
    """Opens the Lab lazily from ``PromptLab.db_url`` (``$PROMPTLAB_URL``), else ``ROOT_DIR/promptlab.duckdb``.

    Store calls run on one worker thread so a store that waits for a lock never blocks the server's event loop;
    the Lab and its libraries are imported there on first use, so the extension adds little to the server's start.
    """

    def __init__(self, settings: PromptLab, root_dir: str | Path, log: logging.Logger):
        self._settings = settings
        self._root_dir = Path(root_dir).expanduser()
        self._log = log
        self._lab: Lab | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="promptlab-store")
        self._compiler = ThreadPoolExecutor(max_workers=2, thread_name_prefix="promptlab-compile")
        self.best_variants = BestVariants()

    @property
    def settings(self) -> PromptLab:
        return self._settings

    @classmethod
    def for_server(cls, server_app: Any) -> LabStore:
        return cls(PromptLab(config=server_app.config), server_app.root_dir, server_app.log)

    def _opened_lab(self) -> Lab:
        from promptlab_nb._lab import Lab
        from promptlab_nb.store.database import DEFAULT_FILE

        if self._lab is None:
            self._lab = Lab(self._settings.db_url or self._root_dir / DEFAULT_FILE, settings=self._settings)
            self._log.info("promptlab_nb: the Prompt Lab API uses the store %s", self._lab.db.location)
        return self._lab

    async def call(self, action: Callable[[Lab], ResultT]) -> ResultT:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, lambda: action(self._opened_lab()))

    async def compile(self, name: str, body: str) -> None:
        """Compile a template body under the server's limits, on a thread of its own: a slow body holds
        neither the event loop nor the store's worker."""
        from promptlab_nb.engine.templating import TemplateLimits, compile_template

        limits = TemplateLimits.of(self._settings)
        await asyncio.get_running_loop().run_in_executor(self._compiler, compile_template, body, name, limits)
