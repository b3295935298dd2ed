"""What routes receive: the Lab, one unit of work per request, and the caller's API token."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from promptlab_nb._lab import Lab
from promptlab_nb.schemas.api_tokens import ApiTokenRecord
from promptlab_nb.services.tokens import TokenService, check_may_write

bearer = HTTPBearer(
    auto_error=False,
    description="An API token made by: promptlab tokens create NAME --store URL (--read-only to forbid writes).",
)


def lab_of(request: Request) -> Lab:
    return request.app.state.lab


LabDep = Annotated[Lab, Depends(lab_of)]


def store_session(lab: LabDep) -> Iterator[Session]:
    """One unit of work per request, committed (scope ``function``) before the answer is sent."""
    with lab.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(store_session, scope="function")]


def api_token(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> ApiTokenRecord:
    return TokenService(session).authenticate(credentials.credentials if credentials else None)


def writing_token(token: Annotated[ApiTokenRecord, Depends(api_token)]) -> ApiTokenRecord:
    check_may_write(token)
    return token


VersionQuery = Annotated[int | None, Query(ge=1, description="A stored version; default: the latest.")]
LabelQuery = Annotated[str | None, Query(description="The version this label (e.g. production) points at.")]
