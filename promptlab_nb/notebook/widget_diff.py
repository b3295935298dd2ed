"""Word-level differences between an output and its baseline, as segments a view can colour."""

from __future__ import annotations

import re
from difflib import SequenceMatcher

SAME, ADDED, REMOVED, NOT_COMPARED = "=", "+", "-", "~"
MAX_DIFF_TOKENS = 1000
TOKEN = re.compile(r"\w+|[^\w\s]+|\s+")

Segment = tuple[str, str]


def words(text: str) -> list[str]:
    """Words, punctuation runs and whitespace runs; joined again they give back ``text``."""
    return TOKEN.findall(text)


def word_diff(baseline: str, output: str) -> list[Segment]:
    """``(kind, text)`` segments that turn ``baseline`` into ``output``: kept, added or removed words.

    Only the first ``MAX_DIFF_TOKENS`` words, punctuation and whitespace runs of each are compared (the
    time grows with the product of the lengths); when either is longer, a last ``NOT_COMPARED`` segment
    holds the rest of ``output``."""
    old, new = words(baseline), words(output)
    segments = _compared(old[:MAX_DIFF_TOKENS], new[:MAX_DIFF_TOKENS])
    if max(len(old), len(new)) > MAX_DIFF_TOKENS:
        segments.append((NOT_COMPARED, "".join(new[MAX_DIFF_TOKENS:])))
    return segments


def _compared(old: list[str], new: list[str]) -> list[Segment]:
    """Kept words as they are; each change as one removed phrase followed by one added phrase, the
    spaces between changed words going with the change, so that a replaced phrase reads as a whole."""
    opcodes = SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
    segments: list[Segment] = []
    removed: list[str] = []
    added: list[str] = []
    for index, (operation, old_start, old_end, new_start, new_end) in enumerate(opcodes):
        between_changes = 0 < index < len(opcodes) - 1
        if operation == "equal" and not (between_changes and _blank(new[new_start:new_end])):
            _append(segments, REMOVED, removed)
            _append(segments, ADDED, added)
            removed, added = [], []
            _append(segments, SAME, new[new_start:new_end])
            continue
        removed += old[old_start:old_end]
        added += new[new_start:new_end]
    _append(segments, REMOVED, removed)
    _append(segments, ADDED, added)
    return segments


def _blank(tokens: list[str]) -> bool:
    return all(token.isspace() for token in tokens)


def _append(segments: list[Segment], kind: str, tokens: list[str]) -> None:
    text = "".join(tokens)
    if not text:
        return
    if segments and segments[-1][0] == kind:
        segments[-1] = (kind, segments[-1][1] + text)
    else:
        segments.append((kind, text))
