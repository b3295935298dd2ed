"""An experiment as a header line and static HTML tables (saved notebooks, nbconvert, GitHub).
Every value that reaches HTML is escaped."""

from __future__ import annotations

from html import escape

from promptlab_nb.display.cards import CARD_STYLE

TABLE_STYLE = "<style>.promptlab-table td{white-space:pre-wrap;vertical-align:top;max-width:420px}</style>"


def experiment_header_text(
    name: str, status: str, variants: int, rows: int, repeats: int, counts: dict[str, int]
) -> str:
    done = ", ".join(f"{count} {state}" for state, count in sorted(counts.items())) or "no runs yet"
    counts_text = f"{_plural(variants, 'variant')} x {_plural(rows, 'row')} x {_plural(repeats, 'repeat')}"
    return f"experiment {name}: {counts_text}, {status} ({done})"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def frame_html(frame, rows: int) -> str:
    shown = frame.head(rows)
    more = f"<div>… {len(frame) - rows} more rows</div>" if len(frame) > rows else ""
    return shown.to_html(escape=True, classes="promptlab-table", na_rep="", border=0) + more


def experiment_html(header: str, summary, outputs, rows: int) -> str:
    parts = [f'<div class="promptlab-experiment" style="{CARD_STYLE}">{TABLE_STYLE}<div><b>{escape(header)}</b></div>']
    if summary is not None:
        parts.append("<div><b>summary</b></div>" + frame_html(summary, rows))
    if outputs is not None:
        parts.append("<div><b>outputs</b></div>" + frame_html(outputs, rows))
    return "".join(parts) + "</div>"
