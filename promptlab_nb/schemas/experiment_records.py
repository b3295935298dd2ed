"""Experiments as returned by the services: detached records, safe to keep after the session ends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class VariantRecord(BaseModel):
    id: str
    position: int
    label: str
    kind: str
    target_name: str
    target_version: int
    target_version_id: str
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class ExperimentRecord(BaseModel):
    id: str
    name: str
    status: str
    mode: str
    repeats: int
    row_count: int
    settings: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    variants: list[VariantRecord] = Field(default_factory=list)

    @property
    def run_count(self) -> int:
        return len(self.variants) * self.row_count * self.repeats
