"""Apply the Alembic migrations shipped in the package when a store opens."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from promptlab_nb.core.errors import InvalidStore, StoreTooNew

MIGRATIONS = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 7_331_001


class DuckDBImpl(DefaultImpl):
    """Lets Alembic drive DuckDB (registered by subclassing)."""

    __dialect__ = "duckdb"
    transactional_ddl = True


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the package ships its migrations"
    return head


def _check_opened_store(connection: Connection, location: str, current: str | None) -> None:
    script = ScriptDirectory.from_config(alembic_config())
    if current is not None:
        try:
            script.get_revision(current)
        except Exception as error:
            raise StoreTooNew(location, current) from error
        return
    foreign_tables = set(inspect(connection).get_table_names())
    if foreign_tables:
        raise InvalidStore(location, f"it already holds other tables: {', '.join(sorted(foreign_tables)[:5])}")


def upgrade(engine: Engine, location: str, revision: str = "head") -> str:
    """Bring the store to ``revision`` in one transaction; return the revision it is at."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("select pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        current = MigrationContext.configure(connection).get_current_revision()
        _check_opened_store(connection, location, current)
        target = head_revision() if revision == "head" else revision
        if current != target:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        return target
