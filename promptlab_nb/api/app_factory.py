"""The application ``promptlab serve`` runs: one store, one router per resource, JSON errors, OpenAPI at /docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from promptlab_nb import __version__
from promptlab_nb._lab import Lab
from promptlab_nb.api import health_routes, pipeline_routes, template_routes
from promptlab_nb.api.body_limit import BodyLimit, most_body_bytes
from promptlab_nb.api.error_responses import DOCUMENTED_ERRORS, answer_errors_as_json
from promptlab_nb.core.config import PromptLab
from promptlab_nb.store.database import require_existing

API_PREFIX = "/promptlab/api"
DESCRIPTION = (
    "Prompts served to applications: read a template by label (`?label=production`), version or latest, "
    "and render it to chat messages with its model and params. The same API as the Jupyter server extension "
    "under `/promptlab/api`. Every route but `/health` needs `Authorization: Bearer <token>`, a token made "
    "by `promptlab tokens create NAME --store URL`; a `--read-only` token cannot write."
)


def create_app(lab_or_url: Lab | str | Path | None = None, *, settings: PromptLab | None = None) -> FastAPI:
    """The API over ``lab_or_url``: a Lab, or the URL of an existing store (default: ``PromptLab.db_url``,
    ``$PROMPTLAB_URL``, else ./promptlab.duckdb). A Lab this opens is closed when the application stops."""
    if isinstance(lab_or_url, Lab):
        lab, lifespan = lab_or_url, None
    else:
        lab = _open_existing(lab_or_url, settings or PromptLab())
        lifespan = _closing(lab)
    app = FastAPI(title="Prompt Lab", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.lab = lab
    answer_errors_as_json(app)
    app.add_middleware(BodyLimit, most_bytes=most_body_bytes(lab.settings))
    app.include_router(health_routes.router)
    app.include_router(template_routes.router, prefix=API_PREFIX, responses=DOCUMENTED_ERRORS)
    app.include_router(pipeline_routes.router, prefix=API_PREFIX, responses=DOCUMENTED_ERRORS)
    return app


def _open_existing(url: str | Path | None, settings: PromptLab) -> Lab:
    return Lab(require_existing(url or settings.db_url or ""), settings=settings)


def _closing(lab: Lab):
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        lab.close()

    return lifespan
