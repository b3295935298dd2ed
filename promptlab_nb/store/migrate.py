"""Apply the Alembic migrations shipped in the package when a store opens.

A store already at the newest revision is recognised by one plain query of its version table against
the head read from the migration files, so opening it does not import Alembic (about 0.1 s);
``alembic_upgrade`` runs only for a new store, an older one, or one this package does not know.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

VERSIONS = Path(__file__).with_name("migrations") / "versions"
VERSION_TABLE = "alembic_version"
_REVISION = re.compile(r"^revision\s*=\s*['\"](?P<id>[^'\"]+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*=\s*['\"](?P<id>[^'\"]+)['\"]", re.MULTILINE)


@cache
def head_revision() -> str:
    """The newest revision: the one no migration file revises."""
    revisions, revised = set(), set()
    for script in VERSIONS.glob("*.py"):
        source = script.read_text(encoding="utf-8")
        if found := _REVISION.search(source):
            revisions.add(found["id"])
        if found := _DOWN_REVISION.search(source):
            revised.add(found["id"])
    heads = revisions - revised
    assert len(heads) == 1, f"the package ships one line of migrations, not the heads {sorted(heads)}"
    return heads.pop()


def stored_revisions(engine: Engine) -> list[str]:
    """The revisions the store records; none when it has no version table (a new store, or not ours)."""
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(f"select version_num from {VERSION_TABLE}")).scalars())
    except DBAPIError:
        return []


def upgrade(engine: Engine, location: str, revision: str = "head") -> str:
    """Bring the store to ``revision`` in one transaction; return the revision it is at."""
    target = head_revision() if revision == "head" else revision
    if stored_revisions(engine) == [target]:
        return target
    from promptlab_nb.store.alembic_upgrade import upgrade_store

    upgrade_store(engine, location, revision, target)
    return target
