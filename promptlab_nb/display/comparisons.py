"""A comparison with a baseline as text and as HTML: one header line over the table of differences.
Every value that reaches HTML is escaped."""

from __future__ import annotations

from html import escape

import pandas as pd

from promptlab_nb.display.tables import TABLE_CLASSES, without_math


def baseline_header(experiment: str, baseline: str, shared_rows: int, worse: int) -> str:
    verdict = f"{worse} worse beyond noise" if worse else "none worse beyond noise"
    return f"{experiment} vs baseline {baseline}: {shared_rows} shared rows, {verdict}"


def comparison_text(header: str, differences: pd.DataFrame) -> str:
    return f"{header}\n{differences.to_string(index=False)}"


def comparison_html(header: str, differences: pd.DataFrame) -> str:
    table = differences.to_html(index=False, escape=True, classes=TABLE_CLASSES, border=0)
    return without_math(f"<p>{escape(header)}</p>{table}")
