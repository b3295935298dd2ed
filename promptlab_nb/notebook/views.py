"""What a notebook shows: a saved definition, a history, and the comparison widget of an experiment.
Lab and Experiment reach the widget through here; the widget module is imported only when one is shown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from promptlab_nb.display.cards import card_html, card_text, diff_html
from promptlab_nb.display.tables import frame_html
from promptlab_nb.schemas.definitions import Definition, DefinitionDiff, Pipeline, Template

if TYPE_CHECKING:
    from promptlab_nb.notebook.widget import ComparedExperiment, ComparisonWidget


class SavedDefinition:
    """The card of a template or pipeline just saved, with the diff against the version before it."""

    def __init__(self, definition: Template | Pipeline, diff: DefinitionDiff | None):
        self.definition, self.diff = definition, diff

    def __getattr__(self, name: str):
        """The saved definition's own fields (``version``, ``variables``, ``inputs``...)."""
        return getattr(self.definition, name)

    def _repr_html_(self) -> str:
        return card_html(self.definition) + (diff_html(self.diff) if self.diff else "")

    def __repr__(self) -> str:
        text = card_text(self.definition)
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
        row = {
            "version": record.version,
            "labels": record.labels,
            "created": record.created_at,
            "description": record.description,
        }
        if isinstance(record, Template):
            row.update(model=record.model, params=record.params, variables=record.variables)
        if isinstance(record, Pipeline):
            row.update(steps=[step.template for step in record.steps], inputs=record.inputs)
        rows.append({**row, "hash": record.content_hash[:12]})
    return pd.DataFrame(rows)


class RunsView:
    """``%prompt runs``: an experiment's runs shown a page at a time, read from the store with LIMIT and
    OFFSET; any DataFrame attribute (``runs.groupby``, ``runs["output"]``) reads every run once, as
    ``exp.runs`` does."""

    def __init__(self, experiment: ComparedExperiment, rows: int):
        self.database, self.experiment_id, self.rows = experiment.database, experiment.record.id, rows
        self._frame: pd.DataFrame | None = None

    def page(self, number: int = 0) -> pd.DataFrame:
        """Runs ``number * rows`` to ``(number + 1) * rows`` of ``exp.runs``."""
        from promptlab_nb.services.results import runs_page_frame

        with self.database.connection() as connection:
            return runs_page_frame(connection, self.experiment_id, number * self.rows, self.rows)

    def frame(self) -> pd.DataFrame:
        """Every run, as ``exp.runs``."""
        from promptlab_nb.services.results import runs_frame

        if self._frame is None:
            with self.database.connection() as connection:
                self._frame = runs_frame(connection, self.experiment_id)
        return self._frame

    def __len__(self) -> int:
        from promptlab_nb.services.results import run_count

        with self.database.connection() as connection:
            return run_count(connection, self.experiment_id)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.frame(), name)

    def __getitem__(self, key: Any) -> Any:
        return self.frame()[key]

    def _repr_html_(self) -> str:
        return frame_html(self.page(), self.rows, total=len(self))

    def __repr__(self) -> str:
        shown = self.page()
        more = len(self) - len(shown)
        return repr(shown) + (f"\n… {more} more runs (the whole DataFrame: exp.runs)" if more > 0 else "")


def runs_view(experiment: ComparedExperiment, rows: int) -> RunsView:
    return RunsView(experiment, rows)


def kernel_has_widgets() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, VS Code, Colab) where widgets can render."""
    from promptlab_nb.notebook import widget

    return widget.kernel_has_widgets()


def comparison_widget(experiment: ComparedExperiment) -> ComparisonWidget:
    from promptlab_nb.notebook.widget import ComparisonWidget

    return ComparisonWidget.from_experiment(experiment)


def live_view(live: bool | ComparisonWidget | None) -> ComparisonWidget | None:
    """The widget a live run fills, or None; see ``notebook.widget.live_view`` (not imported when not live:
    the widgets take a tenth of a second to import)."""
    if not live:
        return None
    from promptlab_nb.notebook import widget

    return widget.live_view(live)


def with_live_view_shown(arguments: dict[str, Any]) -> dict[str, Any]:
    """``live=True`` becomes a widget displayed now by the calling thread, so it lands in the running cell."""
    if arguments.get("live") is not True:
        return arguments
    return {**arguments, "live": live_view(True)}
