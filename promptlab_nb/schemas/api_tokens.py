"""API tokens as shown to the people who make them: never the token itself, except once when it is made."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ApiTokenRecord(BaseModel):
    """A stored token: its name, its first characters (``prefix``) to tell it apart, and whether it may write."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    prefix: str
    read_only: bool
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class IssuedApiToken(BaseModel):
    """A token just made: ``secret`` is shown this once and stored only as its SHA-256; the repr leaves it
    out, so a log or a traceback that shows the object does not show the token."""

    record: ApiTokenRecord
    secret: str = Field(repr=False)
