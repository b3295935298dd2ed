"""The example notebooks run as tests (nbval); the team-store notebook needs its PostgreSQL server."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

TEAM_STORE_NOTEBOOK = "04-team-store.ipynb"
TEAM_SERVER = os.environ.get("PROMPTLAB_TEAM_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def team_server_unavailable() -> str | None:
    """None when the PostgreSQL server the team-store notebook uses answers, else why not."""
    engine = create_engine(TEAM_SERVER, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("select 1"))
    except OperationalError as error:
        return f"{TEAM_STORE_NOTEBOOK} needs PostgreSQL at {TEAM_SERVER}: {str(error).splitlines()[0]}"
    finally:
        engine.dispose()
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    team_store_cells = [item for item in items if item.path.name == TEAM_STORE_NOTEBOOK]
    reason = team_server_unavailable() if team_store_cells else None
    if reason:
        for item in team_store_cells:
            item.add_marker(pytest.mark.skip(reason=reason))
