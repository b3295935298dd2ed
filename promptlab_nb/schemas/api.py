"""Request and response bodies of the REST API: the JupyterLab extension and applications call it through the
Jupyter server extension, applications also through ``promptlab serve``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from promptlab_nb.schemas.definitions import Pipeline, PipelineStep, Template

JSON_BYTES_PER_CHAR = 12
REQUEST_OVERHEAD_BYTES = 65_536


def most_request_bytes(text_chars: int) -> int:
    """The largest body a request carrying ``text_chars`` characters of text may have: every character
    escaped in JSON, with the rest of the request."""
    return JSON_BYTES_PER_CHAR * text_chars + REQUEST_OVERHEAD_BYTES


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TemplateSaveRequest(Request):
    body: str
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None


class DuplicateRequest(Request):
    new_name: str


class RenderRequest(Request):
    """The variables to render a template with; the version is chosen as for reading it (``?label=``, ``?version=``)."""

    variables: dict[str, Any] = Field(default_factory=dict)


class LabelMoveRequest(Request):
    version: int = Field(ge=1, strict=True)
    """A JSON integer: ``true``, ``"2"`` or ``2.0`` are refused, not read as a version."""


class HealthResponse(BaseModel):
    healthy: bool
    version: str


class ErrorResponse(BaseModel):
    error: str
    message: str


class TemplateResponse(BaseModel):
    name: str
    version: int
    body: str
    model: str | None
    params: dict[str, Any]
    description: str | None
    variables: list[str]
    content_hash: str
    created_at: datetime
    deleted: bool
    unchanged: bool
    previous_version: int | None
    labels: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, template: Template) -> TemplateResponse:
        return cls(**template.model_dump(), variables=template.variables)


class TemplateSummary(BaseModel):
    name: str
    version: int
    labels: dict[str, int] = Field(default_factory=dict)
    variables: list[str]
    model: str | None
    description: str | None
    updated: datetime | None


class TemplateList(BaseModel):
    templates: list[TemplateSummary]


class TemplateHistory(BaseModel):
    name: str
    versions: list[TemplateResponse]


class PipelineResponse(BaseModel):
    name: str
    version: int
    steps: list[PipelineStep]
    inputs: list[str]
    outputs: list[str]
    description: str | None
    content_hash: str
    created_at: datetime
    deleted: bool
    labels: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, pipeline: Pipeline) -> PipelineResponse:
        return cls(**pipeline.model_dump(exclude={"unchanged", "previous_version"}), outputs=pipeline.outputs)


class PipelineSummary(BaseModel):
    name: str
    version: int
    labels: dict[str, int] = Field(default_factory=dict)
    steps: list[str]
    inputs: list[str]
    outputs: list[str]
    description: str | None
    updated: datetime | None


class PipelineList(BaseModel):
    pipelines: list[PipelineSummary]


class ExperimentSummary(BaseModel):
    name: str
    status: str
    mode: str | None
    variants: int
    rows: int
    repeats: int
    runs: int
    errors: int
    cost: float | None
    best_variant: str | None
    tied_variants: list[str] = Field(default_factory=list)
    created: datetime | None


class ExperimentList(BaseModel):
    experiments: list[ExperimentSummary]


class ExperimentDetail(BaseModel):
    experiment: ExperimentSummary
    summary: list[dict[str, Any]]


class RunsPage(BaseModel):
    experiment: str
    total: int
    offset: int
    limit: int
    runs: list[dict[str, Any]]


class StoreChoice(BaseModel):
    name: str
    path: str | None


class StoreList(BaseModel):
    stores: list[StoreChoice]
    follows_notebook: bool
