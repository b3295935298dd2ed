"""Bulk writes. DuckDB takes an Arrow table in one statement (far faster than executemany);
PostgreSQL takes one executemany through psycopg's pipeline."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn, Protocol

import orjson
import pyarrow as pa
from sqlalchemy import Connection, FromClause, String, Table, Text, any_, bindparam, delete, insert, select, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from promptlab_nb.store.models import JSONText

CHUNK = 5_000
LOOKUP_CHUNK = 20_000


_PLAIN_JSON_ONLY = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def _not_plain(value: Any) -> NoReturn:
    raise TypeError(type(value).__name__)


def _has_non_finite(value: Any) -> bool:
    """Whether a NaN or an infinity hides in ``value`` (orjson writes them as null, json as NaN)."""
    kind = type(value)
    if kind is float:
        return not math.isfinite(value)
    if kind is not dict and kind is not list:
        return False
    for item in value.values() if kind is dict else value:
        kind = type(item)
        if kind is float:
            if not math.isfinite(item):
                return True
        elif (kind is dict or kind is list) and _has_non_finite(item):
            return True
    return False


def json_text(value: Any) -> str:
    """``value`` as the JSON columns store it (``JSONText``: ``json.dumps(value, ensure_ascii=False,
    default=str)``), read back alike. Plain JSON values go through orjson, a tenth of the cost; any
    other type, a non-string key or a non-finite number (orjson writes null) through json."""
    try:
        text = orjson.dumps(value, default=_not_plain, option=_PLAIN_JSON_ONLY)
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, default=str)
    if b"null" in text and _has_non_finite(value):
        return json.dumps(value, ensure_ascii=False, default=str)
    return text.decode()


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
            values = [None if value is None else json_text(value) for value in values]
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


def rows_where_in(
    connection: Connection, table: FromClause, column: str, values: Sequence[str], wanted: Sequence[str]
) -> list[tuple[Any, ...]]:
    """The ``wanted`` columns of the rows whose ``column`` is one of ``values`` (text keys), JSON columns
    as their text: one query per ``LOOKUP_CHUNK`` values (DuckDB joins them as an Arrow table,
    PostgreSQL takes them as one array parameter)."""
    table = _as_table(table)
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(values), LOOKUP_CHUNK):
        chunk = list(values[start : start + LOOKUP_CHUNK])
        if connection.dialect.name == "duckdb":
            found.extend(_rows_where_in_duckdb(connection, table, column, chunk, wanted))
        else:
            statement = select(*(type_coerce(table.c[name], Text) for name in wanted)).where(
                table.c[column] == any_(bindparam("values", chunk, type_=ARRAY(String)))
            )
            found.extend(tuple(row) for row in connection.execute(statement))
    return found


def _rows_where_in_duckdb(
    connection: Connection, table: Table, column: str, values: list[str], wanted: Sequence[str]
) -> list[tuple[Any, ...]]:
    names = ", ".join(f'stored."{name}"' for name in wanted)
    raw: Any = connection.connection.driver_connection
    raw.register("promptlab_lookup", pa.table({"value": pa.array(values, pa.string())}))
    joined = f'"{table.name}" stored join promptlab_lookup on stored."{column}" = promptlab_lookup.value'
    try:
        return raw.execute(f"select {names} from {joined}").fetchall()
    finally:
        raw.unregister("promptlab_lookup")
