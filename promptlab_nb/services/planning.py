"""Planning an experiment: targets x models x params become pinned variants, checked against the data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from promptlab_nb.core import errors
from promptlab_nb.core.ids import utcnow
from promptlab_nb.core.vocabulary import DefinitionKind, ExperimentStatus, Mode
from promptlab_nb.engine.data import columns_of
from promptlab_nb.engine.matrix import VariantPlan, label_variants
from promptlab_nb.engine.providers.base import ModelSpec
from promptlab_nb.schemas.definitions import Pipeline, Template
from promptlab_nb.schemas.experiment_records import (
    ExperimentRecord,
    PinnedStep,
    PinnedSteps,
    VariantRecord,
    storable_settings,
)
from promptlab_nb.schemas.references import Reference
from promptlab_nb.services.pipelines import PipelineService
from promptlab_nb.services.templates import TemplateService


def parse_target(target: str) -> Reference:
    """``name``, ``name@3``, ``name@production`` or ``name@latest``."""
    return Reference.parse(target)


def planned_record(
    name: str, plans: Sequence[VariantPlan], rows: list[dict[str, Any]], repeats: int, settings: dict[str, Any]
) -> ExperimentRecord:
    """The experiment as it will be stored, before it is: what a start is checked on."""
    now = utcnow()
    variants = [
        VariantRecord(id=f"planned-{position}", position=position, **plan.stored_fields())
        for position, plan in enumerate(plans)
    ]
    return ExperimentRecord(
        id="planned",
        name=name,
        status=ExperimentStatus.PLANNED,
        mode=Mode.LIVE,
        repeats=repeats,
        row_count=len(rows),
        settings=storable_settings(settings),
        created_at=now,
        updated_at=now,
        variants=variants,
    )


class ExperimentPlanner:
    def __init__(self, session, default_model: str):
        self.templates = TemplateService(session)
        self.pipelines = PipelineService(session)
        self.default_model = default_model
        self._templates: dict[Reference, Template] = {}

    def _template(self, reference: Reference) -> Template:
        """A template version, read once per plan; a label is read once, so every use agrees on its version."""
        if reference not in self._templates:
            self._templates[reference] = self.templates.get(reference.name, reference.version, label=reference.label)
        return self._templates[reference]

    def resolve(self, target: str) -> Template | Pipeline:
        """The template or pipeline version a target names; a label resolves to the version it points at now."""
        reference = parse_target(target)
        try:
            return self._template(reference)
        except errors.TemplateNotFound as missing:
            if missing.version is not None and missing.name == reference.name:
                raise
        try:
            return self.pipelines.get(reference.name, reference.version, label=reference.label)
        except errors.PipelineNotFound:
            raise errors.TargetNotFound(reference.name) from None

    def variants(
        self,
        targets: Sequence[str],
        models: Sequence[str | None],
        param_sets: Sequence[dict[str, Any]],
    ) -> tuple[list[VariantPlan], PinnedSteps]:
        """Every target x model x params combination, and the resolved steps of pipeline variants."""
        for model in models:
            if model:
                ModelSpec.parse(model)
        pairs = [
            (self._plan(definition, model, params), definition)
            for definition in (self.resolve(target) for target in targets)
            for model in (models or [None])
            for params in (param_sets or [{}])
        ]
        plans = label_variants([plan for plan, _ in pairs], show_model=len(models) > 1, show_params=len(param_sets) > 1)
        steps = {
            plan.label: self.pipeline_steps(definition, plan)
            for plan, (_, definition) in zip(plans, pairs, strict=True)
            if isinstance(definition, Pipeline)
        }
        return plans, steps

    def _plan(self, definition: Template | Pipeline, model: str | None, params: dict[str, Any]) -> VariantPlan:
        if isinstance(definition, Template):
            return VariantPlan(
                kind=DefinitionKind.TEMPLATE,
                target_name=definition.name,
                target_version=definition.version,
                target_version_id=definition.version_id,
                model=model or definition.model or self.default_model,
                params={**definition.params, **params},
            )
        return VariantPlan(
            kind=DefinitionKind.PIPELINE,
            target_name=definition.name,
            target_version=definition.version,
            target_version_id=definition.version_id,
            model=model,
            params=dict(params),
        )

    def pipeline_steps(self, pipeline: Pipeline, plan: VariantPlan) -> list[PinnedStep]:
        """Each step pinned to a template version with its final model and params."""
        steps = []
        for position, step in enumerate(pipeline.steps, start=1):
            template = self._template(step.reference)
            steps.append(
                PinnedStep(
                    position=position,
                    name=step.output_name,
                    template=template.name,
                    version=template.version,
                    model=step.model or plan.model or template.model or self.default_model,
                    params={**template.params, **plan.params, **step.params},
                    output=step.output_name,
                    parse=step.parse,
                )
            )
        return steps

    def needed_variables(self, plan: VariantPlan, steps: list[PinnedStep] | None) -> set[str]:
        if plan.kind == DefinitionKind.TEMPLATE:
            return set(self._template(Reference(plan.target_name, plan.target_version)).variables)
        produced: set[str] = set()
        needed: set[str] = set()
        for step in steps or []:
            needed |= set(self._template(Reference(step.template, step.version)).variables) - produced
            produced.add(step.output)
        return needed

    def check_data(self, plans: list[VariantPlan], steps: PinnedSteps, rows: list[dict[str, Any]]) -> None:
        """Every variable every variant needs must be a column of the data."""
        if not rows:
            raise errors.InvalidData("The data has no rows; give at least one row.")
        columns = set(columns_of(rows))
        for plan in plans:
            missing = self.needed_variables(plan, steps.get(plan.label)) - columns
            if missing:
                raise errors.MissingVariables(
                    missing, available=columns, where=f"Variant {plan.label!r}", available_as="Columns in the data"
                )
