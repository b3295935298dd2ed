"""Stores as an older release left them, for the tests that upgrade a store in place."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text

from promptlab_nb.store import migrate

LEGACY_TEMPLATE = (
    "insert into template (id, name, created_at, updated_at) values ('t1', 'legacy', now(), now());"
    "insert into template_version (id, template_id, version, body, params, content_hash, created_at)"
    " values ('v1', 't1', 1, 'Old {{ x }}', '{}', 'h', now())"
)

LEGACY_BATCH = (
    "insert into provider_batch (id, experiment_id, provider, model, provider_batch_id, status, request_count,"
    " succeeded, failed, custom_ids, submitted_at) values ('b1', 'e1', 'openai', 'gpt-4o-mini', 'batch_old',"
    " 'ended', 1, 1, 0, '[\"v0-r0-n0\"]', :now)"
)


def store_at_revision(url: str, revision: str, statements: str = LEGACY_TEMPLATE, **values: Any) -> None:
    """A store at schema ``revision`` holding what ``statements`` insert (default: the template ``legacy``
    with one version whose body is ``Old {{ x }}``)."""
    engine = create_engine(url)
    migrate.upgrade(engine, "old store", revision=revision)
    with engine.begin() as connection:
        connection.execute(text(statements), values)
    engine.dispose()
