"""The comparison widget: rows x variants of an experiment, live while it runs, rated by clicking.

Built on anywidget rather than a composition of ipywidgets controls. Our front end is one ES
module read from this package and sent to the browser as a string, so nothing of ours comes from a
CDN. anywidget's own front end ships inside its wheel: a prebuilt JupyterLab 4 / Notebook 7
extension (both verified offline by tests/test_browser_widget.py) and a classic nbextension, the
folder VS Code looks in for a local kernel's widget scripts before any CDN (not tested here).
A grid of ipywidgets controls would need a few widgets per cell, hundreds per page, each a comm
of its own; here one model carries the visible page as JSON. The view sets every value with
``textContent``: model output is never parsed as HTML.
"""

from __future__ import annotations

import ctypes
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anywidget
import traitlets

from promptlab_nb.core.errors import PromptLabError
from promptlab_nb.display.tables import experiment_header_text
from promptlab_nb.notebook.widget_baseline import VersusBaseline
from promptlab_nb.notebook.widget_blind import BlindRating
from promptlab_nb.notebook.widget_state import (
    ComparisonState,
    GridLayout,
    GridQuery,
    GridSource,
    StoredGrid,
    cell_from_record,
    chart_series,
    summary_rows,
)
from promptlab_nb.services.experiments import ExperimentService
from promptlab_nb.services.results import runs_frame
from promptlab_nb.services.run_summary import experiment_summary

if TYPE_CHECKING:
    from promptlab_nb.core.config import PromptLab
    from promptlab_nb.schemas.experiment_records import ExperimentRecord
    from promptlab_nb.store.database import Database

QUERY_TRAITS = (
    "page",
    "page_size",
    "errors_only",
    "failed_check",
    "disagree_only",
    "search",
    "sort_by",
    "descending",
    "baseline",
)
LIVE_REFRESH_SECONDS = 0.25
SUMMARY_AFTER_PAGE_RUNS = 20_000
"""Runs above which the widget shows its first page before its summary (about a second a million runs)."""
BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="promptlab-widget")
"""The one thread that computes what follows a page shown (summaries, counts of matching rows), one thing
at a time: a thread per widget left each its own native memory behind (10-25 MB an opening at a million
runs), and two at once would add their peaks."""


def _malloc_trim() -> Callable[[int], int] | None:
    """The C library's ``malloc_trim`` on Linux (glibc), else None."""
    if not sys.platform.startswith("linux"):
        return None
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


MALLOC_TRIM = _malloc_trim()


def in_background(work: Callable[..., None], *args: Any) -> Future[None]:
    """Run ``work`` on the background thread, then give the memory it freed back to the system. glibc keeps
    what a thread frees in that thread's arena: a summary or a count over a million runs leaves 40-100 MB
    resident in the kernel otherwise, and the next one adds its peak on top."""
    return BACKGROUND.submit(_trimmed_after, work, *args)


def _trimmed_after(work: Callable[..., None], *args: Any) -> None:
    try:
        work(*args)
    finally:
        if MALLOC_TRIM is not None:
            MALLOC_TRIM(0)


class ComparedExperiment(Protocol):
    """What the widget reads of an Experiment, so that the widget needs no import of it."""

    database: Database
    settings: PromptLab

    @property
    def record(self) -> ExperimentRecord: ...

    def rate(self, run_id: str, value: int, note: str | None = None) -> dict[str, Any]: ...

    def prefer(
        self, left_run_id: str, right_run_id: str, preferred_run_id: str | None, note: str | None = None
    ) -> dict[str, Any]: ...


STATIC = Path(__file__).parent / "widget_static"


class ComparisonWidget(BlindRating, VersusBaseline, anywidget.AnyWidget):
    """``exp.widget()``: the grid, a per-variant summary with a chart, filters, diffs and ratings; blind
    rating (``widget_blind``) and the "vs baseline" view (``widget_baseline``)."""

    _esm = STATIC / "comparison.js"
    _css = STATIC / "comparison.css"

    title = traitlets.Unicode("").tag(sync=True)
    variants = traitlets.List(traitlets.Unicode()).tag(sync=True)
    evaluators = traitlets.List(traitlets.Unicode()).tag(sync=True)
    summary: traitlets.List[Any] = traitlets.List().tag(sync=True)
    chart: traitlets.List[Any] = traitlets.List().tag(sync=True)
    sort_options: traitlets.List[Any] = traitlets.List().tag(sync=True)
    baseline_options: traitlets.List[Any] = traitlets.List().tag(sync=True)
    check_options: traitlets.List[Any] = traitlets.List().tag(sync=True)
    view = traitlets.Dict().tag(sync=True)
    finished = traitlets.Int(0).tag(sync=True)
    expected_runs = traitlets.Int(0).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    page = traitlets.Int(0).tag(sync=True)
    page_size = traitlets.Int(GridQuery.page_size).tag(sync=True)
    errors_only = traitlets.Bool(False).tag(sync=True)
    failed_check = traitlets.Unicode("").tag(sync=True)
    disagree_only = traitlets.Bool(False).tag(sync=True)
    search = traitlets.Unicode("").tag(sync=True)
    sort_by = traitlets.Unicode("row").tag(sync=True)
    descending = traitlets.Bool(False).tag(sync=True)
    baseline = traitlets.Unicode("").tag(sync=True)

    def __init__(self, experiment: ComparedExperiment | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.experiment = experiment
        self.state: GridLayout = ComparisonState([], [], [])
        self._lock = threading.RLock()
        self._variant_labels: dict[str, str] = {}
        self._last_push = 0.0
        self._summarizing = self._counting = _done()
        self.observe(self._query_changed, names=list(QUERY_TRAITS))
        self.on_msg(self._handle_view_message)

    @classmethod
    def from_experiment(cls, experiment: ComparedExperiment) -> ComparisonWidget:
        widget = cls(experiment, page_size=experiment.settings.display_rows)
        widget.refresh()
        return widget

    def _compared(self) -> ComparedExperiment:
        if self.experiment is None:
            raise PromptLabError("This widget shows no experiment yet; display an experiment to compare its runs.")
        return self.experiment

    @property
    def query(self) -> GridQuery:
        return GridQuery(**{name: getattr(self, name) for name in QUERY_TRAITS})

    def refresh(self) -> None:
        """Read the experiment from the store again: the page shown, ratings and the summary. Pages, filters
        and the summary are computed in the store; only the runs of the visible page are read. Above
        ``SUMMARY_AFTER_PAGE_RUNS`` runs the summary fills the header once computed, after the first page."""
        experiment = self._compared()
        record = experiment.record
        source, size = GridSource.read(experiment.database, record)
        with experiment.database.session() as session:
            counts = ExperimentService(session).status_counts(record.id)
        with self._lock:
            self.state = StoredGrid(source, size)
            with self.hold_sync():
                self.expected_runs = record.row_count * len(record.variants)
                self.title = experiment_header_text(
                    record.name, record.status, len(record.variants), record.row_count, record.repeats, counts
                )
                self._push_state()
        if sum(counts.values()) > SUMMARY_AFTER_PAGE_RUNS:
            self._summarizing = in_background(self._show_summary, record.id)
        else:
            self._show_summary(record.id)

    def _show_summary(self, experiment_id: str) -> None:
        try:
            with self._compared().database.connection() as connection:
                frame = experiment_summary(connection, experiment_id, ran_only=True)
        except PromptLabError as error:
            self.message = str(error)
            return
        summary = summary_rows(frame, self.state.evaluators) if frame is not None else []
        with self._lock, self.hold_sync():
            self.summary = summary
            self.chart = chart_series(summary)

    def wait_for_summary(self, timeout: float | None = None) -> bool:
        """Wait until the summary is shown; False when ``timeout`` seconds passed first."""
        return _finished(self._summarizing, timeout)

    def wait_for_count(self, timeout: float | None = None) -> bool:
        """Wait until the page shown says how many rows match; False when ``timeout`` seconds passed first."""
        return _finished(self._counting, timeout)

    def follow(self, experiment: ComparedExperiment) -> None:
        """Show the runs ``experiment`` has and every other data row as pending; ``add_run`` then
        fills the cells."""
        self.experiment = experiment
        self.page_size = experiment.settings.display_rows
        record = experiment.record
        with experiment.database.session() as session:
            rows = ExperimentService(session).rows(record.id)
            runs = runs_frame(session.connection(), record.id)
        labels = {variant.id: variant.label for variant in record.variants}
        if runs.empty:
            state = ComparisonState(list(labels.values()), _columns(rows), [])
        else:
            state = ComparisonState.from_runs(runs, list(labels.values()))
        state.add_rows({index: row for index, row in enumerate(rows) if index not in state.rows})
        with self._lock:
            self._variant_labels = labels
            self.state = state
            self.expected_runs = record.row_count * len(record.variants)
            self.title = f"{record.name}: running"
            self._push_state()

    def add_run(self, record: dict[str, Any]) -> None:
        """The ``on_run`` listener of a live run (called from the runner's thread)."""
        with self._lock:
            if not isinstance(self.state, ComparisonState):
                return
            self.state.put(cell_from_record(record, self._variant_labels.get(record["variant_id"], "?")))
            if time.monotonic() - self._last_push >= LIVE_REFRESH_SECONDS:
                self._push_state()

    def rate(self, run_id: str, value: int, note: str | None = None) -> None:
        """Store a rating through ``exp.rate`` and show it in the cell; a mistake becomes ``message``."""
        try:
            self._compared().rate(run_id, value, note or None)
        except PromptLabError as error:
            self.message = str(error)
            return
        with self._lock:
            self.state.set_rating(run_id, value, note or None)
            self.message = ""
            self._push_page()

    def _push_state(self) -> None:
        self._last_push = time.monotonic()
        with self.hold_sync():
            self.variants = self.state.variants
            self.evaluators = self.state.evaluators
            self.sort_options = self.state.sort_options()
            self.baseline_options = self.state.baseline_options()
            self.check_options = self.state.check_options()
            self.finished = self.state.finished
            self._push_page()

    def _push_page(self) -> None:
        """Show the page asked for at once; when finding it did not count the rows that match (a search
        on a large experiment), they are counted in the background."""
        query = self.query
        self.view = self.state.page(query, counted=False)
        if self.view["counting"]:
            self._counting = in_background(self._show_count, query)

    def _show_count(self, query: GridQuery) -> None:
        state = self.state
        if not isinstance(state, StoredGrid) or query != self.query:
            return
        try:
            counted = state.count(query)
        except PromptLabError as error:
            self.message = str(error)
            return
        with self._lock:
            if state is self.state and query == self.query:
                self.view = {**self.view, **counted}

    def _query_changed(self, change: dict[str, Any]) -> None:
        with self._lock:
            if change["name"] != "page" and self.page != 0:
                self.page = 0
                return
            self._push_page()

    def _handle_view_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if content.get("kind") == "rate":
            self.rate(str(content["run_id"]), int(content["value"]), content.get("note"))


def _done() -> Future[None]:
    done: Future[None] = Future()
    done.set_result(None)
    return done


def _finished(work: Future[None], timeout: float | None) -> bool:
    """Whether ``work`` finished within ``timeout`` seconds; an error it raised is raised here."""
    if wait([work], timeout).not_done:
        return False
    work.result()
    return True


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(column for row in rows for column in row))


def kernel_has_widgets() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, VS Code, Colab) where widgets can render."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def live_view(live: bool | ComparisonWidget | None) -> ComparisonWidget | None:
    """The widget a live run fills: the one given, or (for True) a new one displayed now by the calling
    thread; None when not live or outside a kernel that shows widgets."""
    if isinstance(live, ComparisonWidget):
        return live
    if not live or not kernel_has_widgets():
        return None
    from IPython.display import display

    widget = ComparisonWidget(title="starting…")
    display(widget)
    return widget
