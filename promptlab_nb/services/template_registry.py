"""Templates as applications read them: from a process-local cache, so a read per request costs microseconds.

Every read is kept ``PromptLab.registry_ttl`` seconds, so a label moved by another process shows within that
time; so does a change to a pinned version, whose text never changes but whose labels do, and whose template
another process may delete. Only found templates are kept: a name not found yet is looked up again on the
next read. A unit of work of this process that writes templates or labels empties the cache when it commits,
whichever service wrote them, so this process sees its own changes at once.

Every read returns a copy, so an application that changes the template it got (its params, say) changes
nothing for the next read; a read that began before the cache was emptied is not kept, so it cannot bring
back what a write of this process replaced.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Session

from promptlab_nb.core.config import PromptLab
from promptlab_nb.schemas.definitions import Template
from promptlab_nb.services.templates import TemplateService
from promptlab_nb.store.database import Database
from promptlab_nb.store.models import DefinitionLabel, StoredTemplate, TemplateVersion

ReadKey = tuple[str, int | None, str | None]
WATCHED_TABLES = frozenset(model.__tablename__ for model in (StoredTemplate, TemplateVersion, DefinitionLabel))
TEMPLATES_WRITTEN = "promptlab_templates_written"


@dataclass(frozen=True, slots=True)
class _Kept:
    template: Template
    read_at: float


class TemplateRegistry:
    """Cached reads of one store's templates; ``clock`` (seconds, monotonic) is injectable for tests."""

    def __init__(self, database: Database, settings: PromptLab, clock: Callable[[], float] = time.monotonic):
        self._database = database
        self._settings = settings
        self._clock = clock
        self._kept: dict[ReadKey, _Kept] = {}
        self._forgotten = 0
        self._forgetting = threading.Lock()
        event.listen(database.engine, "after_cursor_execute", _note_template_writes, named=True)
        event.listen(database.engine, "commit", self._forget_after_template_writes)
        event.listen(database.engine, "rollback", _drop_note)

    def get(
        self, name: str, version: int | None = None, *, label: str | None = None, session: Session | None = None
    ) -> Template:
        """As ``TemplateService.get``, from the cache when fresh; a miss reads in ``session``, else in a
        unit of work of its own."""
        key = (name, version, label)
        now = self._clock()
        kept = self._kept.get(key)
        if kept is None or now - kept.read_at >= self._settings.registry_ttl:
            kept = self._read_and_keep(key, now, session)
        return kept.template.model_copy(deep=True)

    def _read_and_keep(self, key: ReadKey, now: float, session: Session | None) -> _Kept:
        name, version, label = key
        forgotten_before = self._forgotten
        kept = _Kept(self._read(name, version, label, session), now)
        with self._forgetting:
            if self._forgotten == forgotten_before:
                self._kept[key] = kept
        return kept

    def _read(self, name: str, version: int | None, label: str | None, session: Session | None) -> Template:
        if session is not None:
            return TemplateService(session, self._settings).get(name, version, label=label)
        with self._database.session() as own_session:
            return TemplateService(own_session, self._settings).get(name, version, label=label)

    def forget(self) -> None:
        """Drop every kept read: the next reads come from the store."""
        with self._forgetting:
            self._forgotten += 1
            self._kept.clear()

    def _forget_after_template_writes(self, connection: Connection) -> None:
        if connection.info.pop(TEMPLATES_WRITTEN, False):
            self.forget()


def _note_template_writes(**statement: Any) -> None:
    context: DefaultExecutionContext | None = statement["context"]
    if context is not None and _written_table(context) in WATCHED_TABLES:
        statement["conn"].info[TEMPLATES_WRITTEN] = True


def _written_table(context: DefaultExecutionContext) -> str | None:
    """The table an ORM or Core insert, update or delete writes; None for anything else."""
    if not (context.isinsert or context.isupdate or context.isdelete):
        return None
    table = getattr(getattr(context.compiled, "statement", None), "table", None)
    return getattr(table, "name", None)


def _drop_note(connection: Connection) -> None:
    connection.info.pop(TEMPLATES_WRITTEN, None)
