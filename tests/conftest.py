"""Shared fixtures: a store on each backend, an isolated working directory, offline settings."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

POSTGRES_SERVER = os.environ.get("PROMPTLAB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)]
_postgres_state: dict[str, str | None] = {}


def postgres_unavailable_reason() -> str | None:
    """None when the PostgreSQL test server answers, else why not (checked once per session)."""
    if "reason" not in _postgres_state:
        try:
            engine = create_engine(POSTGRES_SERVER, connect_args={"connect_timeout": 3})
            with engine.connect() as connection:
                connection.execute(text("select 1"))
            engine.dispose()
            _postgres_state["reason"] = None
        except OperationalError as error:
            first_line = str(error).splitlines()[0]
            _postgres_state["reason"] = f"no PostgreSQL server answers at {POSTGRES_SERVER}: {first_line}"
    return _postgres_state["reason"]


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """A PostgreSQL store URL in a fresh schema, dropped after the test."""
    reason = postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    schema = f"promptlab_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_SERVER)
    with admin.begin() as connection:
        connection.execute(text(f"create schema {schema}"))
    yield f"{POSTGRES_SERVER}?options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f"drop schema {schema} cascade"))
    admin.dispose()


@pytest.fixture
def duckdb_url(tmp_path) -> str:
    return f"duckdb:///{tmp_path / 'store.duckdb'}"


@pytest.fixture(params=BACKENDS)
def store_url(request) -> str:
    """The URL of an empty store, once on DuckDB and once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def lab(store_url) -> Iterator:
    import promptlab_nb as pl

    opened = pl.Lab(store_url)
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch) -> None:
    """Each test works in its own folder, with no store URL, model or provider key from the machine."""
    monkeypatch.chdir(tmp_path)
    for variable in (
        "PROMPTLAB_URL",
        "PROMPTLAB_MODEL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
    ):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def notebook_shell(store_url) -> Iterator:
    """An IPython shell with the extension loaded on a fresh store and mock:echo as default model."""
    from IPython.testing import globalipapp

    globalipapp.start_ipython()
    shell = globalipapp.get_ipython()
    shell.run_line_magic("load_ext", "promptlab_nb")
    shell.run_line_magic("config", f'PromptLab.db_url = "{store_url}"')
    shell.run_line_magic("config", 'PromptLab.default_model = "mock:echo"')
    names_before = set(shell.user_ns)
    yield shell
    shell.run_line_magic("unload_ext", "promptlab_nb")
    for name in set(shell.user_ns) - names_before:
        shell.user_ns.pop(name, None)
