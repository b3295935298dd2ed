"""What a notebook user sees when a magic refuses a cell."""

from __future__ import annotations


def printed_error(shell, cell: str, capsys) -> str:
    """Run a cell as a user would and return the error it printed, checking it has no traceback."""
    capsys.readouterr()
    result = shell.run_cell(cell)
    printed = capsys.readouterr()
    text = (printed.out + printed.err).strip()
    assert result.error_in_exec is not None or result.error_before_exec is not None
    assert "Traceback" not in text, text
    return text
