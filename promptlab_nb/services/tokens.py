"""API tokens for ``promptlab serve``: made, listed, revoked, and checked on every request.

A token is 32 random bytes; the store keeps only its SHA-256 (a slow password hash adds nothing for a
secret that cannot be guessed) and its first characters, to tell tokens apart in a listing.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from promptlab_nb.core import errors
from promptlab_nb.core.ids import new_id, utcnow
from promptlab_nb.schemas.api_tokens import ApiTokenRecord, IssuedApiToken
from promptlab_nb.services.versioning import NAME_PATTERN
from promptlab_nb.store.models import ApiToken

TOKEN_START = "plab_"
SECRET_BYTES = 32
PREFIX_CHARS = 12
LAST_USE_PRECISION = timedelta(minutes=1)


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def use_is_unnoted(token: ApiTokenRecord) -> bool:
    """Whether the token's last use is older than ``LAST_USE_PRECISION``, so ``note_use`` should note it."""
    return token.last_used_at is None or utcnow() - token.last_used_at >= LAST_USE_PRECISION


def check_may_write(token: ApiTokenRecord) -> None:
    if token.read_only:
        raise errors.ReadOnlyApiToken(token.name)


class TokenService:
    def __init__(self, session: Session):
        self.session = session

    def create(self, name: str, *, read_only: bool = False) -> IssuedApiToken:
        """A new token named ``name`` (unique among tokens not revoked); its secret is in the answer only."""
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise errors.InvalidName("API token", str(name))
        if self._active(name) is not None:
            raise errors.ApiTokenNameTaken(name)
        secret = TOKEN_START + secrets.token_urlsafe(SECRET_BYTES)
        row = ApiToken(
            id=new_id(),
            name=name,
            token_hash=token_digest(secret),
            prefix=secret[:PREFIX_CHARS],
            read_only=read_only,
            created_at=utcnow(),
        )
        self.session.add(row)
        self.session.flush()
        return IssuedApiToken(record=ApiTokenRecord.model_validate(row), secret=secret)

    def list(self) -> list[ApiTokenRecord]:
        """Every token, revoked ones too, oldest first."""
        rows = self.session.scalars(select(ApiToken).order_by(ApiToken.created_at, ApiToken.id))
        return [ApiTokenRecord.model_validate(row) for row in rows]

    def revoke(self, name: str) -> ApiTokenRecord:
        """The token named ``name`` stops working at once; its row stays, marked revoked. Every token of that
        name is revoked: two ``create`` made at the same moment can both have taken it."""
        rows = self.session.scalars(select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))).all()
        if not rows:
            raise errors.ApiTokenNotFound(name)
        now = utcnow()
        for row in rows:
            row.revoked_at = now
        return ApiTokenRecord.model_validate(rows[0])

    def authenticate(self, secret: str | None) -> ApiTokenRecord:
        """The token whose secret this is, unless revoked. Only reads: ``note_use`` notes the use."""
        row = (
            self.session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(secret))) if secret else None
        )
        if row is None or row.revoked_at is not None:
            raise errors.ApiTokenRejected()
        return ApiTokenRecord.model_validate(row)

    def note_use(self, secret: str) -> None:
        """Note that the token was used now, unless a use was noted less than ``LAST_USE_PRECISION`` ago."""
        now = utcnow()
        unnoted = or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - LAST_USE_PRECISION)
        self.session.execute(
            update(ApiToken).where(ApiToken.token_hash == token_digest(secret), unnoted).values(last_used_at=now)
        )

    def _active(self, name: str) -> ApiToken | None:
        return self.session.scalar(select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None)))
