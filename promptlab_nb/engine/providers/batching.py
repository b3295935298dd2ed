"""What a provider's batch API takes and answers, in the same terms for every provider.

A batch is a list of request lines, each with a ``custom_id``; the provider runs them within
its completion window and answers one outcome per line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

IN_PROGRESS = "in_progress"
ENDED = "ended"
FAILED = "failed"
EXPIRED = "expired"
CANCELLED = "cancelled"
FINISHED_STATES = (ENDED, FAILED, EXPIRED, CANCELLED)

BatchLine = dict[str, Any]


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """The most requests and bytes (of serialized request lines) one batch may hold."""

    max_requests: int
    max_bytes: int


@dataclass(slots=True)
class BatchState:
    """Where a submitted batch stands: ``in_progress``, or finished as ``ended``, ``failed``,
    ``expired`` or ``cancelled``; ``error`` is the provider's reason for a failed batch."""

    batch_id: str
    status: str
    succeeded: int = 0
    failed: int = 0
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATES


@dataclass(slots=True)
class BatchOutcome:
    """The answer to one request line: its text and usage, or the provider's reason it has none."""

    custom_id: str
    text: str | None = None
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    request_id: str | None = None
    error: str | None = None


def outcomes_from_jsonl(text: str, parse: Callable[[dict[str, Any]], BatchOutcome]) -> list[BatchOutcome]:
    """Every result line of a batch. A line that cannot be read but names its request becomes an
    error outcome for that request; one that names none is left out (its request shows as unanswered)."""
    outcomes = []
    for raw in text.splitlines():
        if raw.strip():
            outcome = _outcome_of_line(raw, parse)
            if outcome is not None:
                outcomes.append(outcome)
    return outcomes


def _outcome_of_line(raw: str, parse: Callable[[dict[str, Any]], BatchOutcome]) -> BatchOutcome | None:
    try:
        line = json.loads(raw)
    except ValueError:
        return None
    custom_id = line.get("custom_id") if isinstance(line, dict) else None
    if not isinstance(custom_id, str):
        return None
    try:
        return parse(line)
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as error:
        return BatchOutcome(custom_id, error=f"malformed result line ({type(error).__name__}: {error}): {raw[:200]}")
