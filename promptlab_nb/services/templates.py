"""Templates: save (a new version only when something changed), get, label, list, history, diff, scores."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from promptlab_nb.core import errors
from promptlab_nb.core.config import PromptLab
from promptlab_nb.core.vocabulary import DefinitionKind
from promptlab_nb.engine.providers.base import ModelSpec
from promptlab_nb.engine.templating import TemplateLimits, compile_template
from promptlab_nb.evaluation.score_trend import ScoreHistory
from promptlab_nb.schemas.definitions import Template
from promptlab_nb.services.template_scores import score_history
from promptlab_nb.services.versioning import VersionedDefinitions
from promptlab_nb.store.models import StoredTemplate, TemplateVersion

LIST_COLUMNS = ["name", "version", "labels", "variables", "model", "description", "updated"]


class TemplateService(VersionedDefinitions[Template]):
    kind = "Template"
    definition_kind = DefinitionKind.TEMPLATE
    entity_model = StoredTemplate
    version_model = TemplateVersion
    owner_column = "template_id"
    not_found = errors.TemplateNotFound
    name_taken = errors.TemplateNameTaken
    deleted_error = errors.TemplateDeleted

    def __init__(self, session: Session, settings: PromptLab | None = None):
        super().__init__(session)
        self.limits = TemplateLimits.of(settings) if settings is not None else TemplateLimits()

    def save(
        self,
        name: str,
        body: str,
        model: str | None = None,
        params: dict[str, Any] | None = None,
        description: str | None = None,
        examples: dict[str, Any] | None = None,
    ) -> Template:
        """Store ``body`` as the next version of ``name``; identical content returns the stored version
        with ``unchanged=True``. ``examples`` are example variables kept with the version (a Prompty
        file's defaults and sample)."""
        self.check_name(name)
        if not isinstance(body, str) or not body.strip():
            raise errors.InvalidTemplate(name, "the body is empty; write the prompt text")
        compile_template(body, name, self.limits)
        if model:
            ModelSpec.parse(model)
        content = {"body": body, "model": model or None, "params": dict(params or {})}
        return self._save_content(name, _with_examples(content, examples), description)

    def _content(self, row: TemplateVersion) -> dict[str, Any]:
        content = {"body": row.body, "model": row.model, "params": dict(row.params or {})}
        return _with_examples(content, row.examples)

    def _to_record(self, entity: StoredTemplate, row: TemplateVersion, **extra: Any) -> Template:
        return Template(
            name=entity.name,
            version=row.version,
            version_id=row.id,
            body=row.body,
            model=row.model,
            params=row.params or {},
            examples=row.examples or {},
            description=row.description,
            content_hash=row.content_hash,
            created_at=row.created_at,
            deleted=entity.deleted_at is not None,
            **extra,
        )

    def list(self) -> pd.DataFrame:
        """Live templates, one row each: name, latest version, labels (label -> version), variables, model,
        description, updated."""
        latest = self._latest_rows()
        labels = self._labels_of([entity for entity, _ in latest])
        rows = [
            {
                "name": entity.name,
                "version": row.version,
                "labels": labels[entity.id],
                "variables": compile_template(row.body, entity.name).variables,
                "model": row.model,
                "description": row.description,
                "updated": entity.updated_at,
            }
            for entity, row in latest
        ]
        return pd.DataFrame(rows, columns=LIST_COLUMNS)

    def scores(self, name: str, evaluator: str) -> ScoreHistory:
        """``evaluator``'s score in every experiment that ran a version of ``name``, oldest first: version,
        labels on it now, date, n (rows), mean and 95% CI. ``.plot()`` draws the trend with error bars."""
        entity = self._entity(name)
        labels = self._labels.of_definitions([entity.id])[entity.id]
        return score_history(self.session.connection(), entity.name, evaluator, labels)

    def _text(self, record: Template) -> str:
        return record.body

    def _settings(self, record: Template) -> dict[str, Any]:
        return {"model": record.model, **record.params}


def _with_examples(content: dict[str, Any], examples: dict[str, Any] | None) -> dict[str, Any]:
    """Examples join the content only when there are some, so versions saved before them keep their hash."""
    return {**content, "examples": dict(examples)} if examples else content
