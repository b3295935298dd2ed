"""Display objects the magics return: what a notebook shows for a saved definition or a history."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from promptlab_nb.notebook.display import diff_html
from promptlab_nb.schemas.definitions import Definition, DefinitionDiff, Pipeline, Template


class SavedDefinition:
    """The card of a template or pipeline just saved, with the diff against the version before it."""

    def __init__(self, definition: Template | Pipeline, diff: DefinitionDiff | None):
        self.definition, self.diff = definition, diff

    def __getattr__(self, name: str):
        """The saved definition's own fields (``version``, ``variables``, ``inputs``...)."""
        return getattr(self.definition, name)

    def _repr_html_(self) -> str:
        return self.definition._repr_html_() + (diff_html(self.diff) if self.diff else "")

    def __repr__(self) -> str:
        text = repr(self.definition)
        return f"{text}\n{self.diff}" if self.diff else text


def saved_with_diff(service, definition: Template | Pipeline) -> SavedDefinition:
    """The saved definition's card; a new version shows what changed since the one before."""
    diff = None
    if definition.previous_version and not definition.unchanged:
        diff = service.diff(definition.name, definition.previous_version, definition.version)
    return SavedDefinition(definition, diff)


def history_frame(versions: Sequence[Definition]) -> pd.DataFrame:
    rows = []
    for record in versions:
        row = {"version": record.version, "created": record.created_at, "description": record.description}
        if isinstance(record, Template):
            row.update(model=record.model, params=record.params, variables=record.variables)
        if isinstance(record, Pipeline):
            row.update(steps=[step.template for step in record.steps], inputs=record.inputs)
        rows.append({**row, "hash": record.content_hash[:12]})
    return pd.DataFrame(rows)
