"""What a provider's batch API takes and answers, in the same terms for every provider.

A batch is a list of request lines, each with a ``custom_id``; the provider runs them within
its completion window and answers one outcome per line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from promptlab_nb.core.vocabulary import FINISHED_BATCH_STATUSES, BatchStatus

CLOCK_SKEW = timedelta(minutes=5)
TAG_KEY = "promptlab_batch"

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
    status: BatchStatus
    succeeded: int = 0
    failed: int = 0
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_BATCH_STATUSES


@dataclass(frozen=True, slots=True)
class BatchIntent:
    """A batch recorded in the store before it is submitted, so that one the provider accepted but
    the store never heard of (the kernel died meanwhile) can be found again. ``tag`` (the store's id
    for it) marks the provider's batch where the provider keeps metadata; where it keeps none, a batch
    of as many requests created since the intent was recorded, and not in ``claimed``, is taken."""

    tag: str
    experiment_id: str
    request_count: int
    recorded_at: datetime
    claimed: frozenset[str] = frozenset()

    @property
    def metadata(self) -> dict[str, str]:
        return {TAG_KEY: self.tag, "promptlab_experiment": self.experiment_id}

    @property
    def display_name(self) -> str:
        return f"promptlab-{self.tag}"

    def is_tagged_on(self, metadata: dict[str, str] | None) -> bool:
        return (metadata or {}).get(TAG_KEY) == self.tag

    def may_be(self, batch_id: str, request_count: int, created_at: datetime) -> bool:
        """Whether an untagged batch could be this one."""
        return request_count == self.request_count and batch_id not in self.claimed and not self.predates(created_at)

    def predates(self, created_at: datetime) -> bool:
        """Whether a batch created at ``created_at`` was created before this intent was recorded."""
        created = created_at.astimezone(UTC).replace(tzinfo=None) if created_at.tzinfo else created_at
        return created < self.recorded_at - CLOCK_SKEW


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
