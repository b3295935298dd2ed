"""What a notebook user sees: a value as a cell's result, and the error a magic prints when it refuses a cell."""

from __future__ import annotations

from promptlab_nb.display.cards import show_cards_in


def notebook_display(shell, value) -> tuple[str, str]:
    """The text and the HTML that ``shell`` shows for ``value`` as a cell's result, HTML turned on as in
    a Jupyter kernel."""
    formatters = shell.display_formatter.formatters
    html = formatters["text/html"]
    enabled, html.enabled = html.enabled, True
    try:
        return formatters["text/plain"](value), html(value) or ""
    finally:
        html.enabled = enabled


def shown_in_notebook(value) -> tuple[str, str]:
    """The text and the HTML a notebook with a Lab open shows for ``value`` as a cell's result."""
    from IPython.testing import globalipapp

    globalipapp.start_ipython()
    shell = globalipapp.get_ipython()
    show_cards_in(shell)
    return notebook_display(shell, value)


def printed_error(shell, cell: str, capsys) -> str:
    """Run a cell as a user would and return the error it printed, checking it has no traceback."""
    capsys.readouterr()
    result = shell.run_cell(cell)
    printed = capsys.readouterr()
    text = (printed.out + printed.err).strip()
    assert result.error_in_exec is not None or result.error_before_exec is not None
    assert "Traceback" not in text, text
    return text


def printed_one_line_error(shell, cell: str, capsys) -> str:
    """Run a cell as a user would and return what it printed as an error (one line, no traceback)."""
    text = printed_error(shell, cell, capsys)
    assert text.count("\n") == 0, text
    return text
