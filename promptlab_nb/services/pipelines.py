"""Pipelines: ordered steps, each a template whose output becomes a variable for later steps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import yaml
from pydantic import ValidationError

from promptlab_nb.core import errors
from promptlab_nb.core.vocabulary import DefinitionKind
from promptlab_nb.engine.providers.base import ModelSpec
from promptlab_nb.schemas.definitions import Pipeline, PipelineStep
from promptlab_nb.services.templates import TemplateService
from promptlab_nb.services.versioning import VersionedDefinitions
from promptlab_nb.store.models import PipelineVersion, StoredPipeline

LIST_COLUMNS = ["name", "version", "labels", "steps", "inputs", "outputs", "description", "updated"]


def _parse_steps(name: str, steps: Sequence[Any]) -> list[PipelineStep]:
    if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence) or not steps:
        raise errors.InvalidPipeline(name, "give a non-empty list of steps, each with a template")
    parsed = []
    for position, step in enumerate(steps, start=1):
        try:
            parsed.append(step if isinstance(step, PipelineStep) else PipelineStep.model_validate(step))
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"]) or "step"
            raise errors.InvalidPipeline(name, f"step {position}: {where}: {problem['msg']}") from None
        if parsed[-1].model:
            ModelSpec.parse(parsed[-1].model)
    return parsed


class PipelineService(VersionedDefinitions[Pipeline]):
    kind = "Pipeline"
    definition_kind = DefinitionKind.PIPELINE
    entity_model = StoredPipeline
    version_model = PipelineVersion
    owner_column = "pipeline_id"
    not_found = errors.PipelineNotFound
    name_taken = errors.PipelineNameTaken
    deleted_error = errors.PipelineDeleted

    def save(
        self,
        name: str,
        steps: Sequence[dict[str, Any] | PipelineStep],
        inputs: Sequence[str] | None = None,
        description: str | None = None,
    ) -> Pipeline:
        """Validate the variable flow and store the next version of ``name``."""
        self.check_name(name)
        parsed = _parse_steps(name, steps)
        needed = self.check_flow(name, parsed, inputs)
        content = {
            "steps": [step.model_dump(exclude_defaults=True) for step in parsed],
            "inputs": list(inputs) if inputs is not None else needed,
        }
        return self._save_content(name, content, description)

    def check_flow(self, name: str, steps: list[PipelineStep], declared: Sequence[str] | None = None) -> list[str]:
        """The inputs the pipeline needs. Refuses duplicate outputs and variables used before they exist."""
        templates = TemplateService(self.session)
        outputs = [step.output_name for step in steps]
        produced: set[str] = set()
        needed: list[str] = []
        for position, step in enumerate(steps, start=1):
            if step.output_name in produced:
                raise errors.InvalidPipeline(name, f"step {position} reuses the output name {step.output_name!r}")
            if declared is not None and step.output_name in declared:
                raise errors.InvalidPipeline(
                    name, f"step {position} output {step.output_name!r} hides the input of that name"
                )
            for variable in templates.get(step.template, step.version, label=step.label).variables:
                if variable in produced:
                    continue
                if variable in outputs:
                    raise errors.InvalidPipeline(
                        name,
                        f"step {position} ({step.template}) uses {variable!r} before the step that produces it",
                    )
                if declared is not None and variable not in declared:
                    raise errors.InvalidPipeline(
                        name,
                        f"step {position} ({step.template}) needs {variable!r}, "
                        "which is neither an input nor an earlier output",
                    )
                if variable not in needed:
                    needed.append(variable)
            produced.add(step.output_name)
        return needed

    def _text(self, record: Pipeline) -> str:
        steps = [step.model_dump(exclude_defaults=True) for step in record.steps]
        return yaml.safe_dump(steps, sort_keys=False, allow_unicode=True)

    def _settings(self, record: Pipeline) -> dict[str, Any]:
        return {"inputs": record.inputs}

    def _content(self, row: PipelineVersion) -> dict[str, Any]:
        return {"steps": list(row.steps), "inputs": list(row.inputs or [])}

    def _to_record(self, entity: StoredPipeline, row: PipelineVersion, **extra: Any) -> Pipeline:
        return Pipeline(
            name=entity.name,
            version=row.version,
            version_id=row.id,
            steps=[PipelineStep.model_validate(step) for step in row.steps],
            inputs=row.inputs or [],
            description=row.description,
            content_hash=row.content_hash,
            created_at=row.created_at,
            deleted=entity.deleted_at is not None,
            **extra,
        )

    def list(self) -> pd.DataFrame:
        """Live pipelines, one row each, with their labels (label -> version), steps, inputs and outputs."""
        latest = self._latest_rows()
        labels = self._labels_of([entity for entity, _ in latest])
        rows = [
            {
                "name": record.name,
                "version": record.version,
                "labels": labels[entity.id],
                "steps": [step.template for step in record.steps],
                "inputs": record.inputs,
                "outputs": record.outputs,
                "description": record.description,
                "updated": record.created_at,
            }
            for entity, record in ((entity, self._to_record(entity, row)) for entity, row in latest)
        ]
        return pd.DataFrame(rows, columns=LIST_COLUMNS)
