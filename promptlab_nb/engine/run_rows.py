"""A finished run as the run table stores it."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from operator import attrgetter
from typing import Any

from promptlab_nb.core.vocabulary import Mode, RunStatus


@dataclass(slots=True)
class RunRecord:
    """One finished run, a row of the run table."""

    id: str
    experiment_id: str
    variant_id: str
    row_index: int
    repeat: int
    status: RunStatus
    mode: Mode
    messages: list[dict[str, str]] | None
    output: str | None
    parsed: Any
    error: str | None
    failed_step: str | None
    latency_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None
    cache_hit: bool
    request_id: str | None
    started_at: datetime
    finished_at: datetime

    def row(self) -> dict[str, Any]:
        """The run as the store's bulk write takes it (``asdict`` would deep-copy every message)."""
        return dict(zip(RUN_COLUMNS, _run_values(self), strict=True))


RUN_COLUMNS = tuple(field.name for field in fields(RunRecord))
_run_values = attrgetter(*RUN_COLUMNS)
