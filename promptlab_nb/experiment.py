"""Experiment: what a user holds after run/compare. Every question it answers is read from the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from promptlab_nb.core.config import PromptLab
from promptlab_nb.core.errors import InvalidData
from promptlab_nb.core.vocabulary import ExperimentStatus, Mode
from promptlab_nb.display.tables import experiment_header_text, experiment_html
from promptlab_nb.engine.loop import blocking
from promptlab_nb.evaluation.analysis import compare_pair, summary_table, wide_table
from promptlab_nb.evaluation.evaluators import Evaluator
from promptlab_nb.evaluation.run_scoring import prepare_evaluators
from promptlab_nb.evaluation.specs import as_evaluator
from promptlab_nb.evaluation.statistics import PairedComparison
from promptlab_nb.notebook import views
from promptlab_nb.schemas.experiment_records import ExperimentRecord
from promptlab_nb.services.batch_execution import BatchExecution, BatchReport, is_batch_mode
from promptlab_nb.services.execution import ExecutionOptions, ExecutionResult, ExperimentExecution, unsaved_runs
from promptlab_nb.services.experiments import ExperimentService
from promptlab_nb.services.provider_batches import BatchService
from promptlab_nb.services.results import runs_frame, steps_frame, summary_frame
from promptlab_nb.services.preferences import PreferenceService
from promptlab_nb.services.scores import ScoreService
from promptlab_nb.store.database import Database

if TYPE_CHECKING:
    from promptlab_nb.notebook.widget import ComparisonWidget


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class Experiment:
    """Variants x rows x repeats, stored. ``runs`` is a DataFrame; ``resume()`` runs what is missing."""

    def __init__(self, database: Database, settings: PromptLab, name: str, evaluators: list[Evaluator] | None = None):
        self.database = database
        self.settings = settings
        self.name = name
        self.evaluators = list(evaluators or [])
        self.last_execution: ExecutionResult | None = None
        self.last_batch_report: BatchReport | None = None

    @property
    def record(self) -> ExperimentRecord:
        """As stored; ``unsaved`` while this session keeps runs of it that the store could not take."""
        with self.database.session() as session:
            record = ExperimentService(session).get(self.name)
        if record.id in unsaved_runs(self.database):
            return record.model_copy(update={"status": ExperimentStatus.UNSAVED})
        return record

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def variants(self) -> list[str]:
        return [variant.label for variant in self.record.variants]

    @property
    def runs(self) -> pd.DataFrame:
        """One row per run: variant, inputs, output, status, error, latency, tokens, cost, cache hit, scores."""
        record = self.record
        with self.database.connection() as connection:
            return runs_frame(connection, record.id)

    @property
    def steps(self) -> pd.DataFrame:
        """One row per pipeline step of every run: rendered output, status, tokens, latency and cost."""
        record = self.record
        with self.database.connection() as connection:
            return steps_frame(connection, record.id)

    def status_counts(self) -> dict[str, int]:
        record = self.record
        with self.database.session() as session:
            return ExperimentService(session).status_counts(record.id)

    async def aexecute(
        self, options: ExecutionOptions | None = None, live: bool | ComparisonWidget | None = False
    ) -> Experiment:
        """Run what is missing; ``live`` (True, or a widget already shown) fills the comparison widget
        as runs finish and refreshes it with scores at the end."""
        execution = ExperimentExecution(self.database, self.settings)
        options = options or execution_options(self.settings)
        view = views.live_view(live)
        if view is not None:
            view.follow(self)
            options.on_run = view.add_run
        try:
            self.last_execution = await execution.run(self.name, options, self._run_evaluators())
        finally:
            if view is not None:
                view.refresh()
        return self

    async def asubmit(self, options: ExecutionOptions | None = None) -> Experiment:
        """Send the runs not cached as provider batches (cached runs are stored at once); see ``refresh``."""
        batches = BatchExecution(self.database, self.settings)
        options = options or execution_options(self.settings)
        self.last_batch_report = await batches.submit(self.name, options, self._run_evaluators())
        return self

    async def arefresh(self, *, progress: bool | None = None) -> Experiment:
        """Ask the providers about this experiment's batches and store the runs of every batch that has
        finished, scored by the stored evaluators. Safe to call again: no run is stored twice; a kernel
        interrupt keeps the runs stored so far and leaves the rest to the next refresh."""
        batches = BatchExecution(self.database, self.settings)
        options = execution_options(self.settings, progress=progress)
        self.last_batch_report = await batches.refresh(self.name, options, self._run_evaluators())
        return self

    async def acancel(self, *, progress: bool | None = None) -> Experiment:
        """Cancel this experiment's pending provider batches and store what they answered before stopping."""
        batches = BatchExecution(self.database, self.settings)
        options = execution_options(self.settings, progress=progress)
        self.last_batch_report = await batches.cancel(self.name, options, self._run_evaluators())
        return self

    refresh = blocking(arefresh)
    cancel = blocking(acancel)

    @property
    def batches(self) -> pd.DataFrame:
        """This experiment's provider batches: status, request counts, submitted and finished times."""
        record = self.record
        with self.database.session() as session:
            return BatchService(session).list(record.id)

    def _run_evaluators(self) -> list[Evaluator]:
        """The evaluators given at run time, or rebuilt from their stored specs (e.g. in a new session)."""
        if self.evaluators:
            return self.evaluators
        return [as_evaluator(spec) for spec in self.record.settings.get("evaluators", [])]

    async def aevaluate(self, *evaluators: Any, cache: bool | None = None, progress: bool | None = None) -> Experiment:
        """Score the stored runs with more evaluators (objects, spec strings or callables) without
        calling the models again; judges call their own model. Re-scoring replaces earlier scores."""
        prepared = prepare_evaluators(evaluators, self.runs.attrs.get("inputs", []))
        execution = ExperimentExecution(self.database, self.settings)
        options = execution_options(self.settings, cache=cache, progress=progress)
        await execution.evaluate(self.name, prepared, options)
        return self

    evaluate = blocking(aevaluate)

    def rate(self, run_id: str, value: int, note: str | None = None) -> dict[str, Any]:
        """A human rating of one run: +1 good, -1 bad, 0 clears; shown as the ``rating`` column."""
        record = self.record
        with self.database.session() as session:
            return ScoreService(session).rate(record.id, run_id, value, note)

    def prefer(
        self, left_run_id: str, right_run_id: str, preferred_run_id: str | None, note: str | None = None
    ) -> dict[str, Any]:
        """A person's pick between two outputs of the same row, as shown left and right; None is a tie."""
        record = self.record
        with self.database.session() as session:
            return PreferenceService(session).prefer(record.id, left_run_id, right_run_id, preferred_run_id, note)

    @property
    def preferences(self) -> pd.DataFrame:
        """Every stored preference: row, the variants shown left and right, and the one preferred."""
        record = self.record
        with self.database.session() as session:
            return PreferenceService(session).frame(record.id)

    def summary(self, cluster: str | None = None) -> pd.DataFrame:
        """Per variant: runs, error rate, each score with its 95% CI and whether it differs from the
        best variant beyond noise, latency p50/p95, tokens, cost and cache hits. Repeats are averaged
        per row first; ``cluster`` names a data column whose groups are not independent."""
        record = self.record
        with self.database.connection() as connection:
            runs = summary_frame(connection, record.id, cluster)
        if runs.empty:
            raise InvalidData(f"Experiment {self.name!r} has no runs yet; run it with .resume().")
        if cluster and runs[cluster].isna().all():
            raise InvalidData(f"No data column {cluster!r} to cluster by; see exp.runs for the columns.")
        return summary_table(runs, runs.attrs["evaluators"], cluster)

    def compare_variants(
        self, a: str, b: str, evaluator: str | None = None, cluster: str | None = None
    ) -> PairedComparison:
        """Variant ``a`` minus ``b`` on the rows both ran: mean difference, 95% CI, p-value, wins."""
        runs = self.runs
        scored = runs.attrs["evaluators"]
        if evaluator is None:
            if not scored:
                raise InvalidData("No scores to compare yet; add evaluators with exp.evaluate(...).")
            evaluator = scored[0]
        return compare_pair(runs, a, b, evaluator, cluster)

    def table(self, value: str = "output") -> pd.DataFrame:
        """Rows x variants: the outputs (first repeat) or a score (mean over repeats), with the inputs."""
        runs = self.runs
        return wide_table(runs, value, runs.attrs.get("inputs", []))

    def plot(self, evaluator: str | None = None, cluster: str | None = None):
        """Score per variant with 95% CI error bars (needs matplotlib)."""
        from promptlab_nb.evaluation.plotting import plot_summary

        summary = self.summary(cluster)
        scored = self.runs.attrs["evaluators"]
        if evaluator is None and not scored:
            raise InvalidData("No scores to plot yet; add evaluators with exp.evaluate(...).")
        return plot_summary(summary, evaluator or scored[0])

    async def aresume(
        self,
        *,
        cache: bool | None = None,
        confirm: bool = False,
        progress: bool | None = None,
        mode: Mode = Mode.LIVE,
        live: bool | ComparisonWidget | None = False,
    ) -> Experiment:
        """Run only what is missing: runs never started, and those that failed or were interrupted;
        ``mode="batch"`` sends them as provider batches (runs awaiting a batch are left to ``refresh``);
        ``live=True`` shows the comparison widget filling in as runs finish."""
        options = execution_options(self.settings, cache=cache, confirm=confirm, progress=progress)
        return await (self.asubmit(options) if is_batch_mode(mode) else self.aexecute(options, live))

    resume = blocking(aresume, in_calling_thread=views.with_live_view_shown)

    def export(self, path: str | Path) -> Path:
        """Write the runs to CSV, JSONL or Parquet, chosen by the file's extension."""
        path = Path(path)
        runs = self.runs
        writers = {
            ".csv": lambda: _spreadsheet_safe(runs).to_csv(path, index=False),
            ".jsonl": lambda: runs.to_json(path, orient="records", lines=True, date_format="iso"),
            ".parquet": lambda: _parquet_safe(runs).to_parquet(path, index=False),
        }
        if path.suffix.lower() not in writers:
            raise InvalidData(f"{path.name}: export to a .csv, .jsonl or .parquet file.")
        writers[path.suffix.lower()]()
        return path

    def _header(self) -> str:
        record = self.record
        return experiment_header_text(
            record.name, record.status, len(record.variants), record.row_count, record.repeats, self.status_counts()
        )

    def widget(self) -> ComparisonWidget:
        """The comparison widget: rows x variants, summary and chart, filters, diffs and ratings."""
        return views.comparison_widget(self)

    def _repr_mimebundle_(self, include=None, exclude=None) -> tuple[dict[str, Any], dict[str, Any]]:
        """In a live kernel the widget, with the static HTML view for wherever widgets cannot render."""
        runs, header = self.runs, self._header()
        if not views.kernel_has_widgets():
            return {"text/plain": f"<{header}>", "text/html": self._static_html(runs, header)}, {}
        widget = views.comparison_widget(self, runs)
        static = self._static_html(runs, header, widget.summary_frame)
        widget_bundle, metadata = widget._repr_mimebundle_() or ({}, {})
        return {**widget_bundle, "text/plain": f"<{header}>", "text/html": static}, metadata

    def _repr_html_(self) -> str:
        return self._static_html(self.runs, self._header())

    def _static_html(self, runs: pd.DataFrame, header: str, summary: pd.DataFrame | None = None) -> str:
        """The static view (saved notebooks, nbconvert, GitHub): summary and outputs side by side, escaped."""
        if summary is None and not runs.empty:
            summary = summary_table(runs, runs.attrs["evaluators"])
        outputs = wide_table(runs, "output", runs.attrs["inputs"]) if not runs.empty else None
        return experiment_html(header, summary, outputs, self.settings.display_rows)

    def __repr__(self) -> str:
        return f"<{self._header()}>"


def _spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Text a spreadsheet would run as a formula (starting with =, +, -, @, tab or CR) starts with ' instead,
    as OWASP advises against CSV injection; numbers stay numbers."""
    safe = frame.rename(columns=_inert_text)
    for column in safe.select_dtypes(include=["object", "string"]).columns:
        safe[column] = safe[column].map(_inert_text)
    return safe


def _inert_text(value: Any) -> Any:
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    converted = frame.copy()
    for column in converted.columns:
        if converted[column].map(lambda value: isinstance(value, (dict, list))).any():
            converted[column] = converted[column].map(
                lambda value: json.dumps(value, default=str) if value is not None else None
            )
    return converted


def execution_options(
    settings: PromptLab,
    *,
    cache: bool | None = None,
    concurrency: int | None = None,
    confirm: bool = False,
    progress: bool | None = None,
) -> ExecutionOptions:
    """How to run: unset choices come from the settings (``PromptLab.cache``, ``PromptLab.progress``)."""
    return ExecutionOptions(
        cache=settings.cache if cache is None else cache,
        progress=settings.progress if progress is None else progress,
        confirm=confirm,
        concurrency=concurrency,
    )
