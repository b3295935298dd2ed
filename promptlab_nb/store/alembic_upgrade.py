"""Running the Alembic migrations shipped in the package (imported only when a store needs them)."""

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


def script_head() -> str | None:
    """The head revision as Alembic reads it from the migration scripts."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade_store(engine: Engine, location: str, revision: str, target: str) -> None:
    """Bring the store to ``revision`` (``target`` once resolved) in one transaction, refusing a store
    that is not ours or is newer than the package; one process at a time on PostgreSQL."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("select pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        current = MigrationContext.configure(connection).get_current_revision()
        _check_opened_store(connection, location, current)
        if current != target:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)


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
