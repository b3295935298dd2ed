"""Turning what a user passes as data into rows of JSON-safe values."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from promptlab_nb.core.errors import InvalidData

Row = dict[str, Any]
READERS = {".csv": pd.read_csv, ".jsonl": lambda path: pd.read_json(path, lines=True), ".parquet": pd.read_parquet}


def load_rows(data: Any) -> list[Row]:
    """Rows from a DataFrame, a list of dicts, one dict, or a CSV / JSONL / Parquet path."""
    if data is None:
        return [{}]
    if isinstance(data, (str, Path)):
        return _frame_rows(_read_file(Path(data)))
    if isinstance(data, pd.DataFrame):
        return _frame_rows(data)
    if isinstance(data, Mapping):
        return [_clean_row(data)]
    if isinstance(data, Sequence) and all(isinstance(item, Mapping) for item in data):
        return [_clean_row(item) for item in data]
    raise InvalidData(
        f"Data of type {type(data).__name__} cannot be used: pass a DataFrame, a list of dicts, "
        "a dict (one row) or the path of a CSV, JSONL or Parquet file."
    )


def _read_file(path: Path) -> pd.DataFrame:
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise InvalidData(f"{path.name}: use a .csv, .jsonl or .parquet file.")
    if not path.exists():
        raise InvalidData(f"No data file at {path}.")
    if path.is_dir() and path.suffix.lower() != ".parquet":
        raise InvalidData(f"{path} is a folder; give the path of a .csv, .jsonl or .parquet file.")
    try:
        return reader(path)
    except (ValueError, OSError) as error:
        raise InvalidData(f"{path.name} could not be read: {error}") from None


def _frame_rows(frame: pd.DataFrame) -> list[Row]:
    frame = frame.rename(columns=str)
    return [_clean_row(record) for record in frame.to_dict(orient="records")]


def _clean_row(row: Mapping[Any, Any]) -> Row:
    return {str(key): json_safe(value) for key, value in row.items()}


def json_safe(value: Any) -> Any:
    """Plain Python values that survive a JSON round trip (numpy scalars, NaN, timestamps)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT or value is None:
        return None
    if isinstance(value, (datetime, date, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        return [json_safe(item) for item in value.tolist()]
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, (str, int, float, bool)):
        return value
    return json.loads(json.dumps(value, default=str))


def columns_of(rows: list[Row]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)
