"""Differences between two versions of a definition: a unified diff of the text and changed settings."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

MAX_DIFF_LINES = 2000


def unified_text_diff(old: str, new: str, old_label: str, new_label: str) -> str:
    """A unified diff of the first ``MAX_DIFF_LINES`` lines of each text (the time to compare grows with
    the product of their lengths), and a last line saying so when either text is longer."""
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    lines = difflib.unified_diff(
        old_lines[:MAX_DIFF_LINES], new_lines[:MAX_DIFF_LINES], fromfile=old_label, tofile=new_label
    )
    diff = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    if max(len(old_lines), len(new_lines)) > MAX_DIFF_LINES:
        diff += f"@@ not compared: the lines after line {MAX_DIFF_LINES:,} @@\n"
    return diff


def changed_settings(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {
        key: (old.get(key), new.get(key)) for key in sorted(old.keys() | new.keys()) if old.get(key) != new.get(key)
    }
