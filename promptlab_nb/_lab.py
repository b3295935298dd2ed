"""Lab: the one facade that magics, widgets, the CLI and the server call."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pandas as pd
from sqlalchemy import text

from promptlab_nb.core.config import PromptLab
from promptlab_nb.core.errors import InvalidData
from promptlab_nb.core.vocabulary import Mode
from promptlab_nb.display.cards import show_cards_in_running_shell
from promptlab_nb.engine.data import columns_of, load_rows
from promptlab_nb.engine.loop import blocking, run_blocking
from promptlab_nb.evaluation.evaluators import Evaluator
from promptlab_nb.evaluation.run_scoring import prepare_evaluators, storable_specs
from promptlab_nb.experiment import Experiment, execution_options
from promptlab_nb.notebook import views
from promptlab_nb.schemas.definitions import Template
from promptlab_nb.schemas.experiment_records import ExperimentRecord
from promptlab_nb.services.baselines import DATA_HASH, data_fingerprint
from promptlab_nb.services.batch_execution import is_batch_mode
from promptlab_nb.services.execution import ExecutionOptions, ExperimentExecution
from promptlab_nb.services.experiments import ExperimentService
from promptlab_nb.services.maintenance import CacheService, StoreMaintenance
from promptlab_nb.services.optimization import Optimization, Optimizer
from promptlab_nb.services.pipelines import PipelineService
from promptlab_nb.services.planning import ExperimentPlanner, parse_target, planned_record
from promptlab_nb.services.provider_batches import BatchService
from promptlab_nb.services.template_registry import TemplateRegistry
from promptlab_nb.services.templates import TemplateService
from promptlab_nb.store.database import Database

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from promptlab_nb.notebook.widget import ComparisonWidget
    from promptlab_nb.services.run_files import FileImport

ServiceT = TypeVar("ServiceT")
StartCheck = Callable[[Any, ExperimentRecord, list[dict[str, Any]], list[Evaluator]], None]


class ServiceGateway(Generic[ServiceT]):
    """Calls a service method inside its own unit of work, so no connection outlives the call."""

    def __init__(self, database: Database, service: Callable[..., ServiceT], *options: Any):
        self._database = database
        self._service = service
        self._options = options

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._service, name, None)
        if name.startswith("_") or not callable(method):
            raise AttributeError(name)

        @functools.wraps(method)
        def call_in_session(*args: Any, **kwargs: Any) -> Any:
            with self._database.session() as session:
                return getattr(self._service(session, *self._options), name)(*args, **kwargs)

        return call_in_session

    def __dir__(self) -> list[str]:
        service = self._service
        return sorted(name for name in dir(service) if not name.startswith("_") and callable(getattr(service, name)))

    def __repr__(self) -> str:
        return f"<{self._service.__name__} on {self._database.location}>"


class TemplateGateway(ServiceGateway[TemplateService]):
    """``lab.templates``: ``get`` reads through the registry's cache, every other call as on ServiceGateway."""

    def __init__(self, database: Database, settings: PromptLab, registry: TemplateRegistry):
        super().__init__(database, TemplateService, settings)
        self._registry = registry

    def get(self, name: str, version: int | None = None, *, label: str | None = None) -> Template:
        """The latest version of a live template, the version its ``label`` points at, or any stored version
        when ``version`` is given; repeated reads come from this process's cache (``PromptLab.registry_ttl``)."""
        return self._registry.get(name, version, label=label)


class Lab:
    """A prompt lab on one store.

    ``Lab()`` opens ``$PROMPTLAB_URL``, else ``./promptlab.duckdb``; ``Lab("postgresql+psycopg://...")``
    a shared PostgreSQL store. Migrations are applied on open.
    """

    def __init__(self, url: str | Path | None = None, *, settings: PromptLab | None = None):
        self.settings = settings if settings is not None else PromptLab()
        self.db = Database(url or self.settings.db_url or None, lock_timeout=self.settings.lock_timeout)
        self.registry = TemplateRegistry(self.db, self.settings)
        self.templates: TemplateService = TemplateGateway(self.db, self.settings, self.registry)  # type: ignore[assignment]
        self.pipelines: PipelineService = ServiceGateway(self.db, PipelineService)  # type: ignore[assignment]
        self.cache: CacheService = ServiceGateway(self.db, CacheService)  # type: ignore[assignment]
        show_cards_in_running_shell()

    @property
    def url(self) -> str:
        return self.db.url

    async def acompare(
        self,
        targets: str | Sequence[str],
        data: Any = None,
        *,
        models: Sequence[str] | None = None,
        params: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
        repeats: int = 1,
        name: str | None = None,
        evaluators: Sequence[Any] | None = None,
        cache: bool | None = None,
        concurrency: int | None = None,
        confirm: bool = False,
        progress: bool | None = None,
        mode: Mode = Mode.LIVE,
        live: bool | ComparisonWidget | None = False,
        prepare: Callable[[Session], Any] | None = None,
        on_run: Callable[[dict[str, Any]], Any] | None = None,
    ) -> Experiment:
        """Run every target x model x params variant over every row of ``data``, ``repeats`` times.

        ``targets``: template or pipeline names, ``name@version`` to pin one. ``data``: a DataFrame,
        a list of dicts, a dict (one row) or a CSV / JSONL / Parquet path. ``evaluators``: objects
        from ``promptlab_nb.evals``, spec strings such as ``"contains:Paris"``, or callables.
        ``confirm=True`` runs an experiment estimated above ``PromptLab.cost_limit``.
        ``mode="batch"`` sends the runs not cached through the providers' batch APIs (about half the
        price, answered within 24 hours): the experiment is ``submitted`` until ``exp.refresh()``
        (also from another session: ``lab.experiment(name).refresh()``) has stored every answer.
        ``live=True`` shows the comparison widget filling in as runs finish (in a Jupyter kernel).
        ``prepare(session)`` runs in the unit of work that stores the plan, before planning (an experiment
        file saves the templates it defines there): when the plan is refused, neither is stored.
        ``on_run(run)`` sees each finished run as stored (the command line's plain progress lines).
        """
        batch = is_batch_mode(mode)
        options = self.execution_options(cache=cache, concurrency=concurrency, confirm=confirm, progress=progress)
        options.on_run = on_run
        execution = ExperimentExecution(self.db, self.settings)
        experiment = self._store_plan(
            targets,
            data,
            models=models,
            params=params,
            repeats=repeats,
            name=name,
            evaluators=evaluators,
            check_start=lambda session, planned, rows, evaluators: execution.check_start(
                session, planned, rows, options, evaluators, batch=batch
            ),
            prepare=prepare,
        )
        return await (experiment.asubmit(options) if batch else experiment.aexecute(options, live))

    async def arun(
        self,
        target: str,
        data: Any = None,
        *,
        model: str | None = None,
        params: dict[str, Any] | None = None,
        **options: Any,
    ) -> Experiment:
        """Run one template or pipeline over ``data``; other options as for ``compare``."""
        return await self.acompare(
            [target], data, models=[model] if model else None, params=[params] if params else None, **options
        )

    compare = blocking(acompare, in_calling_thread=views.with_live_view_shown)
    run = blocking(arun, in_calling_thread=views.with_live_view_shown)

    def stream_once(self, target: str, row: dict[str, Any], on_text: Callable[[str], Any]) -> Experiment:
        """One interactive run of ``target`` with ``row``: the text goes to ``on_text`` as it arrives,
        and the run is stored like any other (an experiment named after the target)."""
        experiment = self.plan([target], row)
        options = self.execution_options(progress=False)
        options.stream_to = on_text
        return run_blocking(lambda: experiment.aexecute(options))

    def import_file(self, path: str | Path) -> FileImport:
        """Save the templates a .prompty file, a promptfoo config or an experiment file defines (and an
        experiment file's pipelines), in one unit of work; what the file holds that has no counterpart
        is listed in ``warnings``, one line per kind."""
        from promptlab_nb.services.run_files import FileImport, definitions_in
        from promptlab_nb.services.template_drafts import save_drafts

        found = definitions_in(Path(path), self.settings)
        with self.db.session() as session:
            templates, pipelines = save_drafts(session, self.settings, found.templates, found.pipelines)
        return FileImport([*templates, *pipelines], found.warnings)

    def export_prompty(self, name: str, path: str | Path, version: int | None = None) -> Path:
        """Write template ``name`` (its latest version, or ``version``) as a .prompty file."""
        from promptlab_nb.services.prompty_files import prompty_text
        from promptlab_nb.services.template_drafts import TemplateDraft

        target = Path(path)
        target.write_text(prompty_text(TemplateDraft.of(self.templates.get(name, version))), encoding="utf-8")
        return target

    def models(self) -> pd.DataFrame:
        """Providers, whether each has credentials (never the key itself), and known models with prices."""
        from promptlab_nb.engine.providers.catalog import providers_table

        return providers_table(self.settings.providers)

    def plan(
        self,
        targets: str | Sequence[str],
        data: Any = None,
        *,
        models: Sequence[str] | None = None,
        params: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
        repeats: int = 1,
        name: str | None = None,
        evaluators: Sequence[Any] | None = None,
    ) -> Experiment:
        """Store an experiment without running it; ``.resume()`` runs it."""
        return self._store_plan(
            targets, data, models=models, params=params, repeats=repeats, name=name, evaluators=evaluators
        )

    def _store_plan(
        self,
        targets: str | Sequence[str],
        data: Any,
        *,
        models: Sequence[str] | None,
        params: dict[str, Any] | Sequence[dict[str, Any]] | None,
        repeats: int,
        name: str | None,
        evaluators: Sequence[Any] | None,
        check_start: StartCheck | None = None,
        prepare: Callable[[Session], Any] | None = None,
    ) -> Experiment:
        """Plan, check and store in one unit of work; ``check_start`` refuses a plan before it is stored."""
        targets = [targets] if isinstance(targets, str) else list(targets)
        if not targets:
            raise InvalidData("Name at least one template or pipeline to run.")
        _check_whole_number("repeats", repeats)
        param_sets = [params] if isinstance(params, dict) else list(params or [])
        rows = load_rows(data)
        prepared = prepare_evaluators(evaluators, columns_of(rows))
        with self.db.session() as session:
            if prepare is not None:
                prepare(session)
            planner = ExperimentPlanner(session, self.settings.default_model)
            variants, steps = planner.variants(targets, list(models or []), param_sets)
            planner.check_data(variants, steps, rows)
            service = ExperimentService(session)
            experiment_name = name or service.unique_name(_default_name(targets))
            settings = {
                "pipeline_steps": steps,
                "evaluators": storable_specs(prepared),
                DATA_HASH: data_fingerprint(rows),
            }
            if check_start is not None:
                check_start(session, planned_record(experiment_name, variants, rows, repeats, settings), rows, prepared)
            service.create(experiment_name, variants, rows, repeats, settings)
        return Experiment(self.db, self.settings, experiment_name, prepared)

    def execution_options(
        self,
        *,
        cache: bool | None = None,
        concurrency: int | None = None,
        confirm: bool = False,
        progress: bool | None = None,
    ) -> ExecutionOptions:
        """How to run: unset choices come from the settings (``PromptLab.cache``, ``PromptLab.progress``)."""
        if concurrency is not None:
            _check_whole_number("concurrency", concurrency)
        return execution_options(
            self.settings, cache=cache, concurrency=concurrency, confirm=confirm, progress=progress
        )

    def experiment(self, name: str) -> Experiment:
        """A stored experiment by name (also one made in another notebook or session)."""
        with self.db.session() as session:
            ExperimentService(session).get(name)
        return Experiment(self.db, self.settings, name)

    async def aoptimize(
        self,
        template: str,
        data: Any = None,
        *,
        evaluators: Sequence[Any],
        optimizer_model: str | None = None,
        rounds: int = 3,
        candidates: int = 4,
        holdout: float = 0.3,
        budget: float | None = None,
        seed: int = 0,
        name: str | None = None,
        confirm: bool = False,
        cache: bool | None = None,
        concurrency: int | None = None,
        progress: bool | None = None,
    ) -> Optimization:
        """Improve ``template`` on ``data``, keeping only what is better beyond noise: each of ``rounds`` asks
        ``optimizer_model`` (default: ``PromptLab.default_model``) for ``candidates`` rewrites through the
        editable template ``promptlab-optimizer``, and runs them as variants of one experiment on the tuning
        rows; the best faces the original on the ``holdout`` share of the rows (seeded by ``seed``,
        stratified by ``expected``), and is saved as a new version only when the paired difference is
        positive with a 95% CI above zero. The estimate of the whole optimisation is held to
        ``PromptLab.cost_limit`` (``confirm=True`` to go beyond); it stops before spending more than
        ``budget`` dollars. Every step is a stored experiment; ``.resume()`` goes on after an interrupt."""
        for option, value in (("rounds", rounds), ("candidates", candidates)):
            _check_whole_number(option, value)
        rows = load_rows(data)
        prepared = prepare_evaluators(evaluators, columns_of(rows))
        optimizer = Optimizer(self.db, self.settings)
        started, estimate = optimizer.start(
            template,
            rows,
            prepared,
            optimizer_model=optimizer_model or self.settings.default_model,
            rounds=rounds,
            candidates=candidates,
            holdout=holdout,
            budget=budget,
            seed=seed,
            name=name,
            confirm=confirm,
        )
        if self.settings.progress if progress is None else progress:
            limit = f", stopping at a budget of ${budget:.4f}" if budget is not None else ""
            print(f"{started}: about {estimate.describe()} for the whole optimisation{limit}")
        optimization = Optimization(self.db, self.settings, started, prepared, report=print)
        return await optimization.aresume(cache=cache, concurrency=concurrency, progress=progress)

    optimize = blocking(aoptimize)

    def optimization(self, name: str) -> Optimization:
        """A stored optimisation by name, e.g. to ``.resume()`` one interrupted in another session."""
        Optimizer(self.db, self.settings).plan(name)
        return Optimization(self.db, self.settings, name, report=print)

    def experiments(self) -> pd.DataFrame:
        """Every experiment, newest first: status, variants, rows, runs, errors and cost."""
        with self.db.session() as session:
            return ExperimentService(session).list()

    def batches(self, *, refresh: bool = False, progress: bool = False) -> pd.DataFrame:
        """Every provider batch, newest first; with ``refresh`` the experiments awaiting batches are
        refreshed first (their finished results stored)."""
        if refresh:
            with self.db.session() as session:
                awaiting = BatchService(session).experiments_awaiting()
            for name in awaiting:
                self.experiment(name).refresh(progress=progress)
        with self.db.session() as session:
            return BatchService(session).list()

    def sql(self, query: str, **params: Any) -> pd.DataFrame:
        """Run SQL on the store (views: runs, scores, experiments) and return a DataFrame."""
        with self.db.connection() as connection:
            if self.db.is_duckdb and not params:
                return connection.connection.driver_connection.execute(query).df()
            return pd.read_sql_query(text(query), connection, params=params)

    def vacuum(self) -> None:
        """Compact the store after deleting much (``lab.cache.prune(older_than="30d")``, deleted experiments)."""
        StoreMaintenance(self.db).vacuum()

    def close(self) -> None:
        self.db.dispose()

    def __repr__(self) -> str:
        return f"<Lab {self.db.location}>"


def _check_whole_number(option: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidData(f"{option} must be a whole number of at least 1, not {value!r}.")


def _default_name(targets: list[str]) -> str:
    names = [parse_target(target).name for target in targets]
    return "-vs-".join(names)[:150]
