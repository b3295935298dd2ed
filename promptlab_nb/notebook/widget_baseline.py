"""The comparison widget's "vs baseline" view: the experiment against a baseline experiment, row by row,
changed verdicts first (regressions, then improvements), both outputs side by side with a word diff.

``exp.widget(baseline="name")`` opens it (``baseline=True``: the latest earlier experiment on the same
data with a variant of the same template); in the widget, the "vs baseline" switch and the experiment
box do the same. The rows are ``BaselineService.verdict_rows``, read once per baseline and paged here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

import anywidget
import traitlets

from promptlab_nb.core.errors import PromptLabError
from promptlab_nb.notebook.widget_diff import word_diff
from promptlab_nb.services.baselines import BaselineService

if TYPE_CHECKING:
    from promptlab_nb.schemas.experiment_records import ExperimentRecord
    from promptlab_nb.store.database import Database

VERDICT_PAGE_ROWS = 20
REGRESSED, IMPROVED, UNCHANGED = "regressed", "improved", "unchanged"


class BaselinedExperiment(Protocol):
    """What the "vs baseline" view reads of an Experiment: its name, and the store."""

    database: Database

    @property
    def record(self) -> ExperimentRecord: ...


def verdict_change(row: dict[str, Any]) -> str:
    if row["regressed"]:
        return REGRESSED
    return IMPROVED if row["improved"] else UNCHANGED


def verdict_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys((REGRESSED, IMPROVED, UNCHANGED), 0)
    for row in rows:
        counts[verdict_change(row)] += 1
    return counts


def verdict_page(
    baseline: str, rows: list[dict[str, Any]], page: int, page_size: int = VERDICT_PAGE_ROWS
) -> dict[str, Any]:
    """Page ``page`` (the last one when there are fewer) of ``verdict_rows``, each row with its inputs as
    (column, text) pairs, what changed and a word diff from the baseline's output to the experiment's."""
    page_count = max(1, math.ceil(len(rows) / page_size))
    page = min(max(0, page), page_count - 1)
    shown = rows[page * page_size : (page + 1) * page_size]
    return {
        "baseline": baseline,
        "error": "",
        "counts": verdict_counts(rows),
        "rows": [_row_view(row) for row in shown],
        "page": page,
        "page_count": page_count,
        "first": page * page_size + 1 if shown else 0,
        "last": page * page_size + len(shown),
        "total": len(rows),
    }


def _row_view(row: dict[str, Any]) -> dict[str, Any]:
    output, baseline_output = row["output"], row["baseline_output"]
    diff = None
    if isinstance(output, str) and isinstance(baseline_output, str):
        diff = [list(segment) for segment in word_diff(baseline_output, output)]
    return {
        **row,
        "inputs": [[column, "" if value is None else str(value)] for column, value in row["inputs"].items()],
        "change": verdict_change(row),
        "diff": diff,
    }


class VersusBaseline(anywidget.AnyWidget):
    """The widget's "vs baseline" view: ``show_baseline`` opens it, ``compared_to`` names the baseline
    experiment ("" for the default one), ``baseline_page`` pages it; ``baseline_view`` is what it shows,
    or an ``error`` that says what to do (no baseline found, an unknown name)."""

    show_baseline = traitlets.Bool(False).tag(sync=True)
    compared_to = traitlets.Unicode("").tag(sync=True)
    baseline_page = traitlets.Int(0).tag(sync=True)
    baseline_view = traitlets.Dict().tag(sync=True)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._verdicts: tuple[str, list[dict[str, Any]]] | None = None

    def _compared(self) -> BaselinedExperiment:
        raise NotImplementedError

    def compare_to_baseline(self, baseline: str = "") -> None:
        """Open the "vs baseline" view against experiment ``baseline`` ("": the default one)."""
        self._verdicts = None
        with self.hold_sync():
            self.compared_to = baseline
            self.show_baseline = True
            self._show_verdicts()

    @traitlets.observe("show_baseline", "compared_to", "baseline_page")
    def _baseline_query_changed(self, change: dict[str, Any]) -> None:
        """A new baseline, or the view opened again, reads the verdicts again; paging does not."""
        if change["name"] != "baseline_page":
            self._verdicts = None
        if change["name"] != "baseline_page" and self.baseline_page != 0:
            self.baseline_page = 0
            return
        self._show_verdicts()

    def _show_verdicts(self) -> None:
        if not self.show_baseline:
            return
        try:
            baseline, rows = self._read_verdicts()
        except PromptLabError as error:
            self.baseline_view = {"baseline": self.compared_to, "error": str(error), "rows": []}
            return
        self.baseline_view = verdict_page(baseline, rows, self.baseline_page)

    def _read_verdicts(self) -> tuple[str, list[dict[str, Any]]]:
        """The baseline's name and the verdict rows, read from the store once per baseline."""
        if self._verdicts is None:
            experiment = self._compared()
            name = experiment.record.name
            with experiment.database.session() as session:
                service = BaselineService(session)
                baseline = self.compared_to.strip() or service.default_baseline(name)
                self._verdicts = baseline, service.verdict_rows(name, baseline)
        return self._verdicts
