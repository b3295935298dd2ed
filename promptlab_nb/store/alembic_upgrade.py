"""Running the Alembic migrations shipped in the package (imported only when a store needs them)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from promptlab_nb.core.errors import InvalidStore, StoreTooNew

MIGRATIONS = Path(__file__).with_name("migrations")


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


def upgrade_store(connection: Connection, location: str, current: str | None, revision: str) -> None:
    """Bring the store on ``connection`` from ``current`` to ``revision``, refusing a store that is not ours."""
    _check_opened_store(connection, location, current)
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
