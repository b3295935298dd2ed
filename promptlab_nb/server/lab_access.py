"""The Lab a server uses: opened on first use, once per server, and reached from one worker thread."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from promptlab_nb.core.config import PromptLab
from promptlab_nb.schemas.api import StoreChoice, StoreList
from promptlab_nb.server.experiment_views import BestVariants

if TYPE_CHECKING:
    from promptlab_nb._lab import Lab

ResultT = TypeVar("ResultT")


STORE_SUFFIX = ".duckdb"
STORE_SEARCH_DEPTH = 3


class LabStore:
    """A Lab per store, opened on first use: ``PromptLab.db_url`` (``$PROMPTLAB_URL``), else
    ``ROOT_DIR/promptlab.duckdb``, or a ``.duckdb`` file inside ROOT_DIR named by its relative path.
    Only existing stores open: looking creates none.

    Store calls run on one worker thread so a store that waits for a lock never blocks the server's event loop;
    the Lab and its libraries are imported there on first use, so the extension adds little to the server's start.
    """

    def __init__(self, settings: PromptLab, root_dir: str | Path, log: logging.Logger):
        self._settings = settings
        self._root_dir = Path(root_dir).expanduser().resolve()
        self._log = log
        self._labs: dict[str, Lab] = {}
        self._best_variants: dict[str, BestVariants] = {}
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="promptlab-store")
        self._compiler = ThreadPoolExecutor(max_workers=2, thread_name_prefix="promptlab-compile")

    @property
    def settings(self) -> PromptLab:
        return self._settings

    @classmethod
    def for_server(cls, server_app: Any) -> LabStore:
        return cls(PromptLab(config=server_app.config), server_app.root_dir, server_app.log)

    def store_file(self, relative: str) -> Path | None:
        """The ``.duckdb`` file a path relative to ROOT_DIR names, or None when it points outside ROOT_DIR."""
        file = (self._root_dir / relative).resolve()
        if file.suffix != STORE_SUFFIX or not file.is_relative_to(self._root_dir):
            return None
        return file

    def _default_url(self) -> str | Path:
        from promptlab_nb.store.database import DEFAULT_FILE

        return self._settings.db_url or self._root_dir / DEFAULT_FILE

    def _opened_lab(self, file: Path | None) -> Lab:
        from promptlab_nb._lab import Lab
        from promptlab_nb.store.database import require_existing, resolve_url

        url = resolve_url(file or self._default_url())
        if url not in self._labs:
            self._labs[url] = Lab(require_existing(url), settings=self._settings)
            self._log.info("promptlab_nb: the Prompt Lab API uses the store %s", self._labs[url].db.location)
        return self._labs[url]

    def _call_on(self, file: Path | None, action: Callable[[Lab], ResultT]) -> ResultT:
        from promptlab_nb.core.errors import StoreMissing

        lab = self._opened_lab(file)
        try:
            return action(lab)
        except StoreMissing:
            self._labs.pop(lab.url).close()
            raise

    async def call(self, action: Callable[[Lab], ResultT], file: Path | None = None) -> ResultT:
        """Runs ``action`` on the Lab of ``file`` (a store inside ROOT_DIR), else of the server's default store."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, lambda: self._call_on(file, action))

    def best_variants(self, lab: Lab) -> BestVariants:
        return self._best_variants.setdefault(lab.url, BestVariants())

    def known_stores(self) -> StoreList:
        """The ``.duckdb`` files under ROOT_DIR (a few folders deep, hidden folders skipped) and ``$PROMPTLAB_URL``."""
        from promptlab_nb.store.database import describe, resolve_url

        files = [StoreChoice(name=str(path), path=str(path)) for path in _store_files(self._root_dir)]
        if not self._settings.db_url:
            return StoreList(stores=files, follows_notebook=True)
        named = StoreChoice(name=describe(resolve_url(self._settings.db_url)), path=None)
        return StoreList(stores=[named, *files], follows_notebook=False)

    async def compile(self, name: str, body: str) -> None:
        """Compile a template body under the server's limits, on a thread of its own: a slow body holds
        neither the event loop nor the store's worker."""
        from promptlab_nb.engine.templating import TemplateLimits, compile_template

        limits = TemplateLimits.of(self._settings)
        await asyncio.get_running_loop().run_in_executor(self._compiler, compile_template, body, name, limits)


def _store_files(root: Path, depth: int = STORE_SEARCH_DEPTH) -> list[Path]:
    found: list[Path] = []
    folders = [root]
    for _ in range(depth):
        below: list[Path] = []
        for folder in folders:
            for entry in sorted(folder.iterdir(), key=lambda path: path.name):
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    below.append(entry)
                elif entry.suffix == STORE_SUFFIX:
                    found.append(entry.relative_to(root))
        folders = below
    return sorted(found, key=lambda path: (len(path.parts), str(path)))
