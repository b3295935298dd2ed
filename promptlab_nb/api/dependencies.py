"""What routes receive: the Lab, one unit of work per request, and the caller's API token."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from promptlab_nb._lab import Lab
from promptlab_nb.schemas.api_tokens import ApiTokenRecord
from promptlab_nb.services.tokens import TokenService, check_may_write, use_is_unnoted

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

_one_writer = threading.Lock()


def api_token(
    lab: LabDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> ApiTokenRecord:
    """The caller's token, checked in a unit of work of its own before the request's; its last use is noted
    in another, as a write (see ``writing_session``)."""
    secret = credentials.credentials if credentials else None
    with lab.db.session() as session:
        token = TokenService(session).authenticate(secret)
    if secret and use_is_unnoted(token):
        with _one_writer, lab.db.session() as session:
            TokenService(session).note_use(secret)
    return token


def writing_token(token: Annotated[ApiTokenRecord, Depends(api_token)]) -> ApiTokenRecord:
    check_may_write(token)
    return token


def writing_session(lab: LabDep, token: Annotated[ApiTokenRecord, Depends(writing_token)]) -> Iterator[Session]:
    """The unit of work of a request that writes, one at a time in this process: requests served at once
    on a DuckDB file write in concurrent transactions of one database, where all writers of a row but the
    first fail."""
    with _one_writer, lab.db.session() as session:
        yield session


WritingSessionDep = Annotated[Session, Depends(writing_session, scope="function")]


VersionQuery = Annotated[int | None, Query(ge=1, description="A stored version; default: the latest.")]
LabelQuery = Annotated[str | None, Query(description="The version this label (e.g. production) points at.")]
