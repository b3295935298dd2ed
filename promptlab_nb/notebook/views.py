"""Display objects the magics return: what a notebook shows for a saved template or a history."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from promptlab_nb.notebook.display import diff_html, template_card_html, template_card_text
from promptlab_nb.schemas.definitions import Definition, DefinitionDiff, Pipeline, Template


class SavedTemplate:
    """The card of a template just saved, with the diff against the version before it."""

    def __init__(self, template: Template, diff: DefinitionDiff | None):
        self.template, self.diff = template, diff

    def _repr_html_(self) -> str:
        return template_card_html(self.template) + (diff_html(self.diff) if self.diff else "")

    def __repr__(self) -> str:
        text = template_card_text(self.template)
        return f"{text}\n{self.diff}" if self.diff else text


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
