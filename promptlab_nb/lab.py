"""Lab: the one facade that magics, widgets, the CLI and the server call."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import pandas as pd
from sqlalchemy import text

from promptlab_nb.core.config import PromptLab
from promptlab_nb.services.pipelines import PipelineService
from promptlab_nb.services.templates import TemplateService
from promptlab_nb.store.database import Database

ServiceT = TypeVar("ServiceT")


class ServiceGateway(Generic[ServiceT]):
    """Calls a service method inside its own unit of work, so no connection outlives the call."""

    def __init__(self, database: Database, service: Callable[..., ServiceT]):
        self._database = database
        self._service = service

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._service, name, None)
        if name.startswith("_") or not callable(method):
            raise AttributeError(name)

        @functools.wraps(method)
        def call_in_session(*args: Any, **kwargs: Any) -> Any:
            with self._database.session() as session:
                return getattr(self._service(session), name)(*args, **kwargs)

        return call_in_session

    def __dir__(self) -> list[str]:
        return sorted(name for name in dir(self._service) if not name.startswith("_") and callable(getattr(self._service, name)))

    def __repr__(self) -> str:
        return f"<{self._service.__name__} on {self._database.location}>"


class Lab:
    """A prompt lab on one store.

    ``Lab()`` opens ``$PROMPTLAB_URL``, else ``./promptlab.duckdb``; ``Lab("postgresql+psycopg://...")``
    a shared PostgreSQL store. Migrations are applied on open.
    """

    def __init__(self, url: str | Path | None = None, *, settings: PromptLab | None = None):
        self.settings = settings if settings is not None else PromptLab()
        self.db = Database(url or self.settings.db_url or None, lock_timeout=self.settings.lock_timeout)
        self.templates: TemplateService = ServiceGateway(self.db, TemplateService)  # type: ignore[assignment]
        self.pipelines: PipelineService = ServiceGateway(self.db, PipelineService)  # type: ignore[assignment]

    @property
    def url(self) -> str:
        return self.db.url

    def sql(self, query: str, **params: Any) -> pd.DataFrame:
        """Run SQL on the store (views: runs, scores, experiments) and return a DataFrame."""
        with self.db.connection() as connection:
            if self.db.is_duckdb and not params:
                return connection.connection.driver_connection.execute(query).df()
            return pd.read_sql_query(text(query), connection, params=params)

    def close(self) -> None:
        self.db.dispose()

    def __repr__(self) -> str:
        return f"<Lab {self.db.location}>"
