"""An experiment as one self-contained HTML page, or as a notebook output that needs no kernel.

The page embeds the rows as JSON and the comparison widget's own front end (notebook/widget_static:
the renderer comparison.js, the in-page view engine local_view.js and report_boot.js, read from their
files, never copied), which computes filters, search, sorting, word diffs and pages in the browser.
Where scripts are stripped (GitHub's notebook viewer) a static summary and table stay readable.
Nothing is fetched: styles and scripts are inline, and the page's Content-Security-Policy allows only
those. Model output is data, never markup: escaped in the static part, and in the JSON every ``<``,
``>`` and ``&`` is a ``\\u`` escape, so no output can close the script element that holds it."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

import orjson

from promptlab_nb.core.vocabulary import RunStatus
from promptlab_nb.display.tables import MATH_IGNORED, without_math
from promptlab_nb.schemas.report_records import CELL_FIELDS, ReportContent, ReportRow, ReportRows

FRONT_END = Path(__file__).parents[1] / "notebook" / "widget_static"
SCRIPT_FILES = ("comparison.js", "local_view.js", "report_boot.js")
STYLE_FILES = ("comparison.css", "report.css")
JSON_ESCAPES = {
    b"<": b"\\u003c",
    b">": b"\\u003e",
    b"&": b"\\u0026",
    "\u2028".encode(): b"\\u2028",
    "\u2029".encode(): b"\\u2029",
}
LATENCY_DIGITS = 2


def report_page(content: ReportContent) -> str:
    """A whole HTML document: opened from a file, it shows the interactive view and requests nothing."""
    style, (fragment, script) = _styles(), _parts(content)
    policy = (
        f"default-src 'none'; script-src {_source_hash(script)}; style-src {_source_hash(style)}; "
        "form-action 'none'; base-uri 'none'"
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(content.title)}</title><style>{style}</style></head>\n"
        f'<body class="promptlab-report-page">{fragment}<script type="module">{script}</script></body></html>\n'
    )


def report_fragment(content: ReportContent) -> str:
    """The same view as a notebook output: interactive where the notebook runs its outputs' scripts
    (nbconvert's HTML, VS Code), a static summary and table where it does not."""
    fragment, script = _parts(content)
    return f'<style>{_styles()}</style>{fragment}<script type="module">{script}</script>'


def _parts(content: ReportContent) -> tuple[str, str]:
    """The report's markup (static view and data) and the script that makes it interactive."""
    report_id = f"pl-report-{secrets.token_hex(8)}"
    data = _json_for_script(payload(content))
    fragment = (
        f'<div class="promptlab-report {MATH_IGNORED}" id="{report_id}">{static_view(content)}'
        f'<script type="application/json" id="{report_id}-data">{data}</script></div>'
    )
    script = "\n".join(_read(name) for name in SCRIPT_FILES) + f'\nbootReport("{report_id}");\n'
    return fragment, script


def _read(name: str) -> str:
    return (FRONT_END / name).read_text(encoding="utf-8")


def _styles() -> str:
    return "\n".join(_read(name) for name in STYLE_FILES)


def _source_hash(source: str) -> str:
    digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def _json_for_script(value: Any) -> str:
    encoded = orjson.dumps(value)
    for character, escaped in JSON_ESCAPES.items():
        encoded = encoded.replace(character, escaped)
    return encoded.decode()


def payload(content: ReportContent) -> dict[str, Any]:
    """What the page's view engine reads: the widget's header traits and the rows, each cell an array
    in the order of ``cell_fields`` (without its trailing empty values), to keep large reports small."""
    rows = content.rows
    return {
        "title": content.title,
        "notice": left_out_notice(rows),
        "variants": content.variants,
        "evaluators": rows.evaluators,
        "input_columns": rows.input_columns,
        "summary": content.summary,
        "chart": content.chart,
        "expected_runs": content.expected_runs,
        "page_size": content.page_size,
        "cell_fields": CELL_FIELDS,
        "rows": [_row_values(row, rows) for row in rows.rows],
    }


def _row_values(row: ReportRow, rows: ReportRows) -> list[Any]:
    inputs = [_text(row.inputs.get(column)) for column in rows.input_columns]
    return [row.row_index, inputs, [_cell_values(cell, rows.evaluators) for cell in row.cells]]


def _cell_values(cell: dict[str, Any], evaluators: Sequence[str]) -> list[Any]:
    reasons = [cell["reasons"].get(name) for name in evaluators]
    compact = {
        **cell,
        "latency_ms": None if cell["latency_ms"] is None else round(cell["latency_ms"], LATENCY_DIGITS),
        "cache_hit": cell["cache_hit"] or None,
        "scores": [cell["scores"].get(name) for name in evaluators],
        "reasons": reasons if any(reason is not None for reason in reasons) else None,
    }
    values = [compact[name] for name in CELL_FIELDS]
    while values and values[-1] is None:
        values.pop()
    return values


def left_out_notice(rows: ReportRows) -> str:
    """Which data rows the grid leaves out, or nothing when it shows them all."""
    if not rows.left_out:
        return ""
    which = (
        f"the row of index {rows.left_out_from:,} is"
        if rows.left_out == 1
        else f"the {rows.left_out:,} rows of index {rows.left_out_from:,} to {rows.left_out_to:,} are"
    )
    return (
        f"The grid shows the first {len(rows.rows):,} of {rows.total_rows:,} data rows: {which} left out "
        "(make the report with a larger max_rows to include them). The summary counts every run."
    )


def static_view(content: ReportContent) -> str:
    """The header, summary and first page of outputs as plain tables, every value escaped."""
    notice = left_out_notice(content.rows)
    parts = [
        f"<div><b>{_escaped(content.title)}</b></div>",
        f'<div class="pl-notice">{_escaped(notice)}</div>' if notice else "",
        _summary_table(content.summary),
        _outputs_table(content),
    ]
    return f'<div class="promptlab-experiment pl-report-static">{"".join(parts)}</div>'


def _escaped(value: Any) -> str:
    return without_math(escape(_text(value)))


def _table(caption: str, head: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    header = "".join(f"<th>{_escaped(name)}</th>" for name in head)
    lines = "".join("<tr>" + "".join(f"<td>{_escaped(value)}</td>" for value in row) + "</tr>" for row in body)
    return (
        f"<div><b>{_escaped(caption)}</b></div>"
        f'<table class="promptlab-table {MATH_IGNORED}"><thead><tr>{header}</tr></thead><tbody>{lines}</tbody></table>'
    )


def _summary_table(summary: Sequence[dict[str, Any]]) -> str:
    if not summary:
        return ""
    names = [score["name"] for score in summary[0]["scores"]]
    head = ["variant", "runs", "errors", *(f"{name} (95% CI)" for name in names), "cost", "latency p50"]
    body = [
        [
            variant["variant"],
            variant["runs"],
            _percent(variant["error_rate"]),
            *(_interval(score) for score in variant["scores"]),
            _cost(variant),
            _milliseconds(variant["latency_p50_ms"]),
        ]
        for variant in summary
    ]
    return _table("summary", head, body)


def _outputs_table(content: ReportContent) -> str:
    rows = content.rows
    shown = rows.rows[: content.page_size]
    if not shown:
        return ""
    caption = f"outputs: rows 1–{len(shown)} of {len(rows.rows):,}"
    head = [*rows.input_columns, *content.variants]
    body = [
        [*(row.inputs.get(column) for column in rows.input_columns), *_first_outputs(row, len(content.variants))]
        for row in shown
    ]
    return _table(caption, head, body)


def _first_outputs(row: ReportRow, variants: int) -> list[str]:
    """Per variant, the first repeat's output (or error) with its scores and rating on a line below."""
    firsts: dict[int, dict[str, Any]] = {}
    for cell in sorted(row.cells, key=lambda cell: cell["repeat"]):
        firsts.setdefault(cell["variant"], cell)
    return [_cell_text(firsts[position]) if position in firsts else "" for position in range(variants)]


def _cell_text(cell: dict[str, Any]) -> str:
    text = cell["output"] if cell["status"] == RunStatus.OK else f"{cell['status']}: {cell['error'] or ''}"
    marks = [_score_mark(name, value) for name, value in cell["scores"].items()]
    if cell["rating"]:
        marks.append("rated good" if cell["rating"] > 0 else "rated bad")
    return "\n".join([_text(text), " · ".join(marks)]) if marks else _text(text)


def _score_mark(name: str, value: float | None) -> str:
    if value == 1:
        return f"✓ {name}"
    if value == 0:
        return f"✗ {name}"
    return f"{name} {'–' if value is None else f'{value:.2f}'}"


def _interval(score: dict[str, Any]) -> str:
    return f"{_decimal(score['mean'])} [{_decimal(score['low'])}, {_decimal(score['high'])}]"


def _decimal(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _cost(variant: dict[str, Any]) -> str:
    return f"${variant['cost']:.4f}" + (f" + {variant['unpriced']} unpriced" if variant["unpriced"] else "")


def _milliseconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"


def _text(value: Any) -> str:
    return "" if value is None else str(value)
