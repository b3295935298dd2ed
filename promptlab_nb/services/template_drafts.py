"""Templates and pipelines read from files (an experiment file, a .prompty file, a promptfoo config),
held in memory until the unit of work that stores an experiment saves them with it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from promptlab_nb.core.config import PromptLab
from promptlab_nb.engine.templating import TemplateLimits, compile_template
from promptlab_nb.schemas.definitions import Pipeline, Template
from promptlab_nb.services.pipelines import PipelineService
from promptlab_nb.services.templates import TemplateService


@dataclass(frozen=True)
class TemplateDraft:
    """A template to save: its body (role lines and Jinja2), model, params, and example variables
    (a Prompty file's defaults and sample) that show how to call it."""

    name: str
    body: str
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    examples: dict[str, Any] = field(default_factory=dict)

    def check(self, settings: PromptLab | None = None) -> None:
        """Raise InvalidTemplate now rather than when saving."""
        limits = TemplateLimits.of(settings) if settings is not None else TemplateLimits()
        compile_template(self.body, self.name, limits)

    @classmethod
    def of(cls, template: Template) -> TemplateDraft:
        return cls(
            template.name,
            template.body,
            template.model,
            dict(template.params),
            template.description,
            dict(template.examples),
        )


@dataclass(frozen=True)
class PipelineDraft:
    name: str
    steps: list[dict[str, Any]]
    description: str | None = None


def save_drafts(
    session: Session,
    settings: PromptLab,
    templates: Sequence[TemplateDraft] = (),
    pipelines: Sequence[PipelineDraft] = (),
) -> tuple[list[Template], list[Pipeline]]:
    """Save every draft in ``session`` (a new version only where something changed)."""
    template_service = TemplateService(session, settings)
    saved_templates = [
        template_service.save(draft.name, draft.body, draft.model, draft.params, draft.description, draft.examples)
        for draft in templates
    ]
    pipeline_service = PipelineService(session)
    saved_pipelines = [
        pipeline_service.save(draft.name, draft.steps, description=draft.description) for draft in pipelines
    ]
    return saved_templates, saved_pipelines
