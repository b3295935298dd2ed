"""DataFrames as JSON-ready rows for the REST handlers and the comparison widget: missing values
become None, numpy and pandas values plain Python."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One dict per row, keyed by column name as text; converted a column at a time, which keeps large frames fast."""
    columns = {str(name): _plain_column(frame[name]) for name in frame.columns}
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _plain_column(column: pd.Series) -> list[Any]:
    values = column.tolist()
    if column.dtype == object or column.dtype.kind == "M":
        values = [_plain(value) for value in values]
    missing = column.isna().tolist()
    return [None if absent else value for value, absent in zip(values, missing, strict=True)]


def _plain(value: Any) -> Any:
    """A pandas timestamp as a datetime, a numpy value or array as Python; anything else unchanged."""
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    if hasattr(value, "tolist"):
        return value.tolist()
    return value
