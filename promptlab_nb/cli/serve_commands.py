"""``promptlab serve`` and ``promptlab tokens``: the API for applications, and the tokens that open it.

FastAPI and uvicorn (the extra ``serve``) are imported only when ``serve`` runs.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from promptlab_nb.cli.console import fail, store_option, user_errors
from promptlab_nb.schemas.api_tokens import ApiTokenRecord

SERVE_PACKAGES = ("fastapi", "uvicorn")
TOKEN_COLUMNS = ("name", "prefix", "access", "made", "last used", "revoked")


@click.command()
@store_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every one).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
def serve(store: str | None, host: str, port: int) -> None:
    """Serve the store's templates to applications over REST (OpenAPI page at /docs), behind API tokens."""
    with user_errors():
        app = _serve_app(store)
    import uvicorn

    click.echo(f"Prompt Lab API on http://{host}:{port}/promptlab/api (OpenAPI: http://{host}:{port}/docs)")
    uvicorn.run(app, host=host, port=port)


def _serve_app(store: str | None) -> Any:
    missing = [package for package in SERVE_PACKAGES if importlib.util.find_spec(package) is None]
    if missing:
        fail(f"promptlab serve needs {' and '.join(missing)}; install them with: pip install 'promptlab_nb[serve]'")
    from promptlab_nb.api.app_factory import create_app

    return create_app(store)


@click.group()
def tokens() -> None:
    """API tokens for promptlab serve: only their SHA-256 is stored, the token itself is shown once."""


@tokens.command("create")
@click.argument("name")
@click.option("--read-only", is_flag=True, help="The token may read and render, never write.")
@store_option
def create_token(name: str, read_only: bool, store: str | None) -> None:
    """Make a token named NAME and print it, this once."""
    from promptlab_nb.services.tokens import TokenService

    with user_errors(), _unit_of_work(store) as session:
        issued = TokenService(session).create(name, read_only=read_only)
    click.echo(issued.secret)
    click.echo(f"Token {name!r} ({_access(issued.record)}) made; it is not shown again.", err=True)


@tokens.command("list")
@store_option
def list_tokens(store: str | None) -> None:
    """Every token: name, prefix, access, made, last used, revoked."""
    from promptlab_nb.services.tokens import TokenService

    with user_errors(), _unit_of_work(store) as session:
        records = TokenService(session).list()
    click.echo("\t".join(TOKEN_COLUMNS))
    for record in records:
        click.echo(_token_line(record))


@tokens.command("revoke")
@click.argument("name")
@store_option
def revoke_token(name: str, store: str | None) -> None:
    """Stop the token named NAME from working, at once."""
    from promptlab_nb.services.tokens import TokenService

    with user_errors(), _unit_of_work(store) as session:
        TokenService(session).revoke(name)
    click.echo(f"Token {name!r} revoked.")


@contextmanager
def _unit_of_work(store: str | None) -> Iterator[Any]:
    from promptlab_nb.store.database import Database, require_existing

    database = Database(require_existing(store or ""))
    try:
        with database.session() as session:
            yield session
    finally:
        database.dispose()


def _access(record: ApiTokenRecord) -> str:
    return "read-only" if record.read_only else "read-write"


def _token_line(record: ApiTokenRecord) -> str:
    times = (record.created_at, record.last_used_at, record.revoked_at)
    shown = [f"{time:%Y-%m-%d %H:%M}" if time else "-" for time in times]
    return "\t".join([record.name, f"{record.prefix}...", _access(record), *shown])
