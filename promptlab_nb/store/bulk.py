"""Bulk writes. DuckDB takes an Arrow table in one statement (far faster than executemany);
PostgreSQL takes one executemany through psycopg's pipeline."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import pyarrow as pa
from sqlalchemy import Connection, FromClause, Table, delete, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert

from promptlab_nb.store.models import JSONText

CHUNK = 5_000


def _json_columns(table: Table) -> set[str]:
    return {column.name for column in table.columns if isinstance(column.type, JSONText)}


class RowObject(Protocol):
    """A record kept as an object (a slotted dataclass): its attributes are named like the columns."""

    def row(self) -> dict[str, Any]: ...


Record = Mapping[str, Any] | RowObject


def _column(records: Sequence[Record], name: str) -> list[Any]:
    """One column's values; records kept as objects are read without building a dict per row."""
    if records and not isinstance(records[0], Mapping):
        return [getattr(record, name) for record in records]
    return [record.get(name) for record in records]  # type: ignore[union-attr]


def _arrow_batch(table: Table, records: Sequence[Record]) -> pa.Table:
    json_columns = _json_columns(table)
    columns = {}
    for column in table.columns:
        values = _column(records, column.name)
        if column.name in json_columns:
            values = [None if value is None else json.dumps(value, ensure_ascii=False, default=str) for value in values]
        columns[column.name] = values
    return pa.table(columns)


def _as_rows(records: Sequence[Record]) -> list[Mapping[str, Any]]:
    return [record if isinstance(record, Mapping) else record.row() for record in records]


def _as_table(table: FromClause) -> Table:
    """A model's ``__table__``, which SQLAlchemy types as any FROM clause."""
    if not isinstance(table, Table):
        raise TypeError(f"bulk writes need a table, not {table!r}")
    return table


def insert_records(
    connection: Connection, table: FromClause, records: Sequence[Record], *, skip_existing: bool = False
) -> None:
    """Insert many complete rows (mappings, or objects whose attributes are the columns); with
    ``skip_existing`` rows whose key is already stored are left as they are."""
    if not records:
        return
    table = _as_table(table)
    if connection.dialect.name == "duckdb":
        _insert_duckdb(connection, table, records, skip_existing)
    else:
        _insert_sqlalchemy(connection, table, records, skip_existing)


def _insert_duckdb(connection: Connection, table: Table, records: Sequence[Record], skip_existing: bool) -> None:
    names = ", ".join(f'"{column.name}"' for column in table.columns)
    verb = "insert or ignore" if skip_existing else "insert"
    raw: Any = connection.connection.driver_connection
    for start in range(0, len(records), CHUNK):
        raw.register("promptlab_batch", _arrow_batch(table, records[start : start + CHUNK]))
        try:
            raw.execute(f'{verb} into "{table.name}" ({names}) select {names} from promptlab_batch')
        finally:
            raw.unregister("promptlab_batch")


def _insert_sqlalchemy(connection: Connection, table: Table, records: Sequence[Record], skip_existing: bool) -> None:
    statement = pg_insert(table).on_conflict_do_nothing() if skip_existing else insert(table)
    for start in range(0, len(records), CHUNK):
        connection.execute(statement, _as_rows(records[start : start + CHUNK]))


def delete_where_in(connection: Connection, table: FromClause, column: str, values: Sequence[Any]) -> None:
    table = _as_table(table)
    for start in range(0, len(values), CHUNK):
        connection.execute(delete(table).where(table.c[column].in_(values[start : start + CHUNK])))
