"""An experiment as a header line and static HTML tables (saved notebooks, nbconvert, GitHub).
Every value that reaches HTML is escaped."""

from __future__ import annotations

from html import escape

from promptlab_nb.display.cards import CARD_STYLE

MATH_IGNORED = "tex2jax_ignore mathjax_ignore"
TABLE_CLASSES = f"promptlab-table {MATH_IGNORED}"
TABLE_STYLE = "<style>.promptlab-table td{white-space:pre-wrap;vertical-align:top;max-width:420px}</style>"


def experiment_header_text(
    name: str, status: str, variants: int, rows: int, repeats: int, counts: dict[str, int]
) -> str:
    done = ", ".join(f"{count} {state}" for state, count in sorted(counts.items())) or "no runs yet"
    counts_text = f"{_plural(variants, 'variant')} x {_plural(rows, 'row')} x {_plural(repeats, 'repeat')}"
    return f"experiment {name}: {counts_text}, {status} ({done})"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def frame_html(frame, rows: int, total: int | None = None) -> str:
    """The first ``rows`` rows as an HTML table whose text stays text: a ``$`` is written as an entity and
    the table is marked for MathJax to skip, so "$99 ... $16.50" is not rendered as math. ``total`` is how
    many rows there are when ``frame`` holds only the first of them."""
    shown = frame.head(rows)
    total = len(frame) if total is None else total
    more = f"<div>… {total - len(shown)} more rows</div>" if total > len(shown) else ""
    table = shown.to_html(escape=True, classes=TABLE_CLASSES, na_rep="", border=0)
    return without_math(table) + more


def without_math(html: str) -> str:
    return html.replace("$", "&#36;")


def dataframe_html_without_math(frame) -> str | None:
    """A DataFrame's own HTML with its text kept as text (the formatter the extension installs for
    DataFrames, so ``exp.runs`` shows "$99" as written)."""
    html = frame._repr_html_()
    if html is None:
        return None
    return without_math(html.replace('class="dataframe"', f'class="dataframe {MATH_IGNORED}"', 1))


def experiment_html(header: str, summary, outputs, rows: int) -> str:
    title = without_math(escape(header))
    parts = [f'<div class="promptlab-experiment" style="{CARD_STYLE}">{TABLE_STYLE}<div><b>{title}</b></div>']
    if summary is not None:
        parts.append("<div><b>summary</b></div>" + frame_html(summary, rows))
    if outputs is not None:
        parts.append("<div><b>outputs</b></div>" + frame_html(outputs, rows))
    return "".join(parts) + "</div>"
