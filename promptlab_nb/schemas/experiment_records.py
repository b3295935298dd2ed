"""Experiments as returned by the services: detached records, safe to keep after the session ends."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from promptlab_nb.core.vocabulary import ExperimentStatus, Mode


@dataclass(frozen=True, slots=True)
class PinnedStep:
    """One step of a pipeline variant, pinned when the experiment is planned: its template version
    and its final model and params. Stored in the experiment's settings as a JSON object."""

    position: int
    name: str
    template: str
    version: int
    model: str
    params: dict[str, Any]
    output: str
    parse: Literal["json"] | None = None

    def stored(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> PinnedStep:
        return cls(**stored)


PinnedSteps = dict[str, list[PinnedStep]]


def storable_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` as the store keeps them: the pinned steps of each pipeline variant as JSON objects."""
    if "pipeline_steps" not in settings:
        return settings
    steps: PinnedSteps = settings["pipeline_steps"]
    return {
        **settings,
        "pipeline_steps": {label: [step.stored() for step in pinned] for label, pinned in steps.items()},
    }


def pinned_steps(settings: dict[str, Any]) -> PinnedSteps:
    """The pinned steps of each pipeline variant, read from an experiment's stored settings."""
    stored = settings.get("pipeline_steps", {})
    return {label: [PinnedStep.from_stored(step) for step in steps] for label, steps in stored.items()}


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
    status: ExperimentStatus
    mode: Mode
    repeats: int
    row_count: int
    settings: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    variants: list[VariantRecord] = Field(default_factory=list)

    @property
    def run_count(self) -> int:
        return len(self.variants) * self.row_count * self.repeats
