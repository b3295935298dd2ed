"""``GET /health``: the service answers and reaches its store. The one route without a token."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from promptlab_nb import __version__
from promptlab_nb.api.dependencies import SessionDep
from promptlab_nb.schemas.api import HealthResponse

router = APIRouter(tags=["health"])


@router.get("/health")
def health(session: SessionDep) -> HealthResponse:
    session.execute(select(1))
    return HealthResponse(healthy=True, version=__version__)
