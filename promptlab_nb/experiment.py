"""Experiment: what a user holds after run/compare. Every question it answers is read from the store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from promptlab_nb.core.config import PromptLab
from promptlab_nb.core.errors import InvalidData
from promptlab_nb.core.vocabulary import ExperimentStatus, Mode
from promptlab_nb.display.report import report_fragment, report_page
from promptlab_nb.display.tables import experiment_header_text
from promptlab_nb.engine.loop import blocking
from promptlab_nb.evaluation.agreement import Agreement, cohen_kappa
from promptlab_nb.evaluation.analysis import RATING, compare_pair, wide_table
from promptlab_nb.evaluation.evaluators import Evaluator
from promptlab_nb.evaluation.pairwise import WinRate
from promptlab_nb.evaluation.pass_at import pass_at_table
from promptlab_nb.evaluation.run_scoring import prepare_evaluators
from promptlab_nb.evaluation.specs import as_evaluator, as_pairwise_judge
from promptlab_nb.evaluation.statistics import T_METHOD, PairedComparison
from promptlab_nb.notebook import views
from promptlab_nb.notebook.report_view import report_content
from promptlab_nb.schemas.experiment_records import ExperimentRecord
from promptlab_nb.schemas.report_records import NOTEBOOK_ROWS, REPORT_ROWS
from promptlab_nb.services.baselines import BaselineComparison, BaselineService
from promptlab_nb.services.batch_execution import BatchExecution, BatchReport, is_batch_mode
from promptlab_nb.services.execution import ExecutionOptions, ExecutionResult, ExperimentExecution, unsaved_runs
from promptlab_nb.services.experiments import ExperimentService
from promptlab_nb.services.judge_batches import PendingJudging, ScoreJudging
from promptlab_nb.services.judging import PairwiseJudging
from promptlab_nb.services.preferences import PreferenceService
from promptlab_nb.services.provider_batches import BatchService
from promptlab_nb.services.results import RunColumns, run_columns, runs_frame, steps_frame
from promptlab_nb.services.run_summary import experiment_summary
from promptlab_nb.services.score_outcomes import pass_fail_frame, rated_outcomes
from promptlab_nb.services.scores import ScoreService
from promptlab_nb.services.variant_names import resolve_variant
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

    def _run_columns(self) -> RunColumns:
        """The data and score columns of ``runs``, read without reading the runs."""
        record = self.record
        with self.database.connection() as connection:
            return run_columns(connection, record.id)

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
        finished, scored by the stored evaluators, and the verdicts or scores of each judge whose batches
        have all finished. Safe to call again: nothing is stored twice; a kernel interrupt keeps the runs
        stored so far and leaves the rest to the next refresh."""
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

    async def aevaluate(
        self,
        *evaluators: Any,
        cache: bool | None = None,
        progress: bool | None = None,
        confirm: bool = False,
        batch: bool = False,
    ) -> Experiment | PendingJudging:
        """Score the stored runs with more evaluators (objects, spec strings or callables) without
        calling the models again; judges call their own model. Re-scoring replaces earlier scores.
        ``batch=True`` sends judges' requests as provider batches at batch prices and returns what is
        pending; ``refresh()`` stores the scores once the batches finish."""
        prepared = prepare_evaluators(evaluators, self._run_columns().inputs)
        options = execution_options(self.settings, cache=cache, progress=progress, confirm=confirm)
        pending = await ScoreJudging(self.database, self.settings).evaluate(self.name, prepared, options, batch)
        return self if pending is None else pending

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

    async def apairwise(
        self,
        a: str,
        b: str,
        judge: Any = None,
        *,
        cache: bool | None = None,
        confirm: bool = False,
        batch: bool = False,
    ) -> WinRate | PendingJudging:
        """The win rate of variant ``a`` over ``b`` with its 95% CI (a tie counts half) and n rows:
        judged by ``judge`` (``pl.evals.pairwise(...)`` or ``'pairwise:"rubric"'``; each pair asked in
        both orders, a disagreement is a tie, their share the bias rate), else from people's picks.
        ``batch=True`` sends the judge's requests as provider batches at batch prices and returns what
        is pending; once ``refresh()`` stored the verdicts, asking again reads them."""
        judging = PairwiseJudging(self.database, self.settings)
        options = execution_options(self.settings, cache=cache, confirm=confirm)
        pairwise_judge = as_pairwise_judge(judge) if judge is not None else None
        return await judging.win_rate(self.name, self.variant(a), self.variant(b), pairwise_judge, options, batch)

    pairwise = blocking(apairwise)

    async def aranking(
        self,
        judge: Any = None,
        *,
        seed: int | None = None,
        cache: bool | None = None,
        confirm: bool = False,
        batch: bool = False,
    ) -> pd.DataFrame | PendingJudging:
        """Three or more variants ranked by Bradley–Terry strength (log-odds) with 95% bootstrap CIs, from
        ``judge`` comparing every pair of variants on every row, else from people's picks. ``batch=True``
        sends the judge's requests as provider batches and returns what is pending (see ``pairwise``)."""
        judging = PairwiseJudging(self.database, self.settings)
        options = execution_options(self.settings, cache=cache, confirm=confirm)
        pairwise_judge = as_pairwise_judge(judge) if judge is not None else None
        return await judging.ranking(self.name, self.variants, pairwise_judge, options, seed, batch)

    ranking = blocking(aranking)

    @property
    def verdicts(self) -> pd.DataFrame:
        """Every stored pairwise judge verdict: judge, row, both variants, its pick in each order, the winner."""
        return PairwiseJudging(self.database, self.settings).verdicts(self.name)

    def agreement(self, evaluator: str | Evaluator) -> Agreement:
        """Cohen's κ and percent agreement (95% CIs, n) between people's ratings (+1 pass, -1 fail) and
        ``evaluator``'s pass/fail on the runs that have both."""
        name = evaluator.name if isinstance(evaluator, Evaluator) else evaluator
        record = self.record
        with self.database.connection() as connection:
            rated = rated_outcomes(connection, record.id, name)
        return cohen_kappa(rated["person"].tolist(), rated["passed"].tolist(), name)

    def pass_at(self, k: int, evaluator: str | Evaluator | None = None) -> pd.DataFrame:
        """Per variant: pass@k (at least one of k runs passes) and pass^k (all k pass) with 95% CIs,
        Chen et al.'s unbiased estimator averaged over rows, of ``evaluator``'s pass/fail (None: the first
        scored); needs ``repeats`` >= k. A failed run fails."""
        record = self.record
        name = evaluator.name if isinstance(evaluator, Evaluator) else evaluator
        with self.database.connection() as connection:
            outcomes = pass_fail_frame(connection, record.id, name)
        return pass_at_table(outcomes, k)

    def summary(self, cluster: str | None = None, method: str = T_METHOD, seed: int | None = None) -> pd.DataFrame:
        """Per variant: runs, error rate, each score with its 95% CI and whether it differs from the
        best variant beyond noise (Holm-adjusted across the comparisons), latency p50/p95, tokens, cost
        and cache hits. Repeats are averaged per row first; ``cluster`` names a data column whose groups
        are not independent; ``method="bootstrap"`` resamples rows (with ``seed``) instead of the t interval."""
        record = self.record
        with self.database.connection() as connection:
            summary = experiment_summary(connection, record.id, cluster, method=method, seed=seed)
        if summary is None:
            raise InvalidData(f"Experiment {self.name!r} has no runs yet; run it with .resume().")
        return summary

    def compare_variants(
        self,
        a: str,
        b: str,
        evaluator: str | None = None,
        cluster: str | None = None,
        method: str = T_METHOD,
        seed: int | None = None,
    ) -> PairedComparison:
        """Variant ``a`` minus ``b`` on the rows both ran: mean difference, 95% CI, p-value, wins. A variant
        is named by its label or, when no other variant shares it, a part of it: ``triage`` for ``triage@1``.
        ``method="bootstrap"`` resamples the pairs of rows (with ``seed``) instead of the paired t-test."""
        runs = self.runs
        scored = runs.attrs["evaluators"]
        if evaluator is None:
            if not scored:
                raise InvalidData("No scores to compare yet; add evaluators with exp.evaluate(...).")
            evaluator = scored[0]
        return compare_pair(runs, self.variant(a), self.variant(b), evaluator, cluster, method, seed)

    def variant(self, name: str) -> str:
        """The label of the variant ``name`` stands for: its label, or a part of it no other variant shares
        (``triage`` for ``triage@1``, a model); an ambiguous name is refused, listing the choices."""
        return resolve_variant(name, self.variants)

    def compare_to(
        self, baseline: str | Experiment | None = None, evaluator: str | Sequence[str] | None = None
    ) -> BaselineComparison:
        """Each variant minus its counterpart in ``baseline`` (an experiment or its name; by default the
        latest earlier experiment on the same data with a variant of the same template), on the rows both
        ran, matched by their input values: mean difference, 95% CI, p-value, wins, losses, ties, n, and
        whether it is worse beyond noise; per evaluator both were scored by (or ``evaluator``)."""
        with self.database.session() as session:
            return BaselineService(session).compare(self.name, _experiment_name(baseline), _names(evaluator))

    def regressions(
        self, baseline: str | Experiment | None = None, evaluator: str | Sequence[str] | None = None
    ) -> pd.DataFrame:
        """The rows whose verdict went from pass to fail since ``baseline`` (as for ``compare_to``), with the
        data columns and both outputs side by side."""
        with self.database.session() as session:
            return BaselineService(session).regressions(self.name, _experiment_name(baseline), _names(evaluator))

    def table(self, value: str = "output") -> pd.DataFrame:
        """Rows x variants: the outputs (first repeat) or a score (mean over repeats), with the inputs."""
        runs = self.runs
        return wide_table(runs, value, runs.attrs.get("inputs", []))

    def plot(self, evaluator: str | None = None, cluster: str | None = None):
        """Score per variant with 95% CI error bars (needs matplotlib)."""
        from promptlab_nb.evaluation.plotting import plot_summary

        summary = self.summary(cluster)
        scored = self._run_columns().evaluators
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
        """Write the runs to CSV, JSONL or Parquet, chosen by the file's extension: one row per run with
        its data columns, a column per score (and its reason), and the ``rating`` and ``rating_note``
        columns, empty when nobody rated; in CSV and Parquet, dicts and lists (params, inputs, parsed) are JSON."""
        path = Path(path)
        runs = _with_rating_columns(self.runs)
        writers = {
            ".csv": lambda: _spreadsheet_safe(_json_text_columns(runs)).to_csv(path, index=False),
            ".jsonl": lambda: runs.to_json(path, orient="records", lines=True, date_format="iso"),
            ".parquet": lambda: _json_text_columns(runs).to_parquet(path, index=False),
        }
        if path.suffix.lower() not in writers:
            raise InvalidData(f"{path.name}: export to a .csv, .jsonl or .parquet file.")
        writers[path.suffix.lower()]()
        return path

    def report(self, path: str | Path, *, max_rows: int = REPORT_ROWS) -> Path:
        """Write one self-contained HTML file with the comparison widget's view, for people without a
        kernel: summary with CIs and chart, then the grid of the first ``max_rows`` data rows with their
        scores, reasons, ratings, errors, cost and latency, filtered, searched, sorted, diffed and paged
        in the page itself. It requests nothing (no CDN, no fonts) and says which rows it left out."""
        path = Path(path)
        if not path.parent.is_dir():
            raise InvalidData(f"No folder {str(path.parent)!r} to write {path.name} in; create it first.")
        path.write_text(report_page(report_content(self, max_rows)), encoding="utf-8")
        return path

    def _header(self) -> str:
        record = self.record
        return experiment_header_text(
            record.name, record.status, len(record.variants), record.row_count, record.repeats, self.status_counts()
        )

    def widget(
        self, diff_against: str | None = None, *, blind: bool = False, baseline: str | Experiment | bool = False
    ) -> ComparisonWidget:
        """The comparison widget: rows x variants, summary and chart, filters, diffs and ratings;
        ``diff_against`` names the variant the others' outputs are diffed against. ``blind=True`` hides
        the variant names, shuffles each row's outputs and offers a pick between A and B (``exp.prefer``);
        ``baseline`` (an experiment or its name, True for the default one of ``compare_to``) opens the
        "vs baseline" view, changed verdicts first."""
        from promptlab_nb.notebook.widget_state import VARIANT_BASELINE

        widget = views.comparison_widget(self)
        if diff_against is not None:
            widget.baseline = f"{VARIANT_BASELINE}:{self.variants.index(self.variant(diff_against))}"
        widget.blind = blind
        if baseline is not False:
            widget.compare_to_baseline("" if baseline is True else _experiment_name(baseline) or "")
        return widget

    def _repr_mimebundle_(self, include=None, exclude=None) -> tuple[dict[str, Any], dict[str, Any]]:
        """In a live kernel the widget, with the report's view for wherever widgets cannot render."""
        header = self._header()
        if not views.kernel_has_widgets():
            return {"text/plain": f"<{header}>", "text/html": self._static_html()}, {}
        widget = views.comparison_widget(self)
        widget.wait_for_summary()
        static = self._static_html(widget.summary)
        widget_bundle, metadata = widget._repr_mimebundle_() or ({}, {})
        return {**widget_bundle, "text/plain": f"<{header}>", "text/html": static}, metadata

    def _repr_html_(self) -> str:
        return self._static_html()

    def _static_html(self, summary: list[dict[str, Any]] | None = None) -> str:
        """The view of a notebook opened without a kernel: the report's view of the first rows, interactive
        where the output's script runs (nbconvert's HTML, VS Code), a static summary and table, escaped,
        where scripts are stripped (GitHub); ``summary`` is the widget's when it has one."""
        return report_fragment(report_content(self, NOTEBOOK_ROWS, summary))

    def __repr__(self) -> str:
        return f"<{self._header()}>"


def _experiment_name(experiment: str | Experiment | None) -> str | None:
    return experiment.name if isinstance(experiment, Experiment) else experiment


def _names(names: str | Sequence[str] | None) -> list[str] | None:
    return [names] if isinstance(names, str) else (list(names) if names else None)


def _spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Text a spreadsheet would run as a formula (starting with =, +, -, @, tab or CR) starts with ' instead,
    as OWASP advises against CSV injection; numbers stay numbers."""
    safe = frame.rename(columns=_inert_text)
    for column in safe.select_dtypes(include=["object", "string"]).columns:
        safe[column] = safe[column].map(_inert_text)
    return safe


def _inert_text(value: Any) -> Any:
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _with_rating_columns(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs with ``rating`` and ``rating_note`` columns even before anyone rated, so every export of an
    experiment has the same columns."""
    missing = {column: None for column in (RATING, "rating_note") if column not in runs.columns}
    return runs.assign(**missing) if missing else runs


def _json_text_columns(frame: pd.DataFrame) -> pd.DataFrame:
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
