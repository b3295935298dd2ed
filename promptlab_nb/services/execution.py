"""Executing an experiment: run every cell of variants x rows x repeats that has no successful run yet.

This service takes the Database rather than one Session: an experiment runs for minutes and must
not hold the store, so each read or bulk write is its own short unit of work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy.orm import Session

from promptlab_nb.core.config import PromptLab
from promptlab_nb.core.errors import CostLimitExceeded, RunsNotStored, StoreLocked, UnpricedModels
from promptlab_nb.core.vocabulary import ExperimentStatus
from promptlab_nb.engine.cache import ResponseCache
from promptlab_nb.engine.costs import CostEstimate, PlannedCall, expected_output_chars
from promptlab_nb.engine.limits import Limits, RetryPolicy
from promptlab_nb.engine.matrix import cells
from promptlab_nb.engine.progress import Progress
from promptlab_nb.engine.providers.registry import ProviderRegistry
from promptlab_nb.engine.runner import ExperimentRunner, RunTask, prepare_first_calls
from promptlab_nb.engine.sink import RunRecords, RunSink
from promptlab_nb.engine.steps import ModelCaller, StepChain, TemplateStep
from promptlab_nb.engine.templating import compile_template
from promptlab_nb.evaluation.evaluators import Evaluator
from promptlab_nb.evaluation.run_scoring import RunScorer, planned_scoring_calls
from promptlab_nb.schemas.experiment_records import ExperimentRecord, PinnedStep, VariantRecord, pinned_steps
from promptlab_nb.services.experiments import ExperimentService, claim_token
from promptlab_nb.services.provider_batches import BatchService
from promptlab_nb.services.scores import ScoreService
from promptlab_nb.services.templates import TemplateService
from promptlab_nb.store.database import Database

_UNSAVED: WeakKeyDictionary[Database, dict[str, RunRecords]] = WeakKeyDictionary()


def unsaved_runs(database: Database) -> dict[str, RunRecords]:
    """Per experiment id, the runs this process received but could not store in ``database`` (it stayed
    locked): the experiment's next run stores them first, without calling the models again."""
    return _UNSAVED.setdefault(database, {})


@dataclass
class ExecutionOptions:
    cache: bool = True
    progress: bool = True
    confirm: bool = False
    concurrency: int | None = None
    stream_to: Callable[[str], Any] | None = None
    on_run: Callable[[dict[str, Any]], Any] | None = None


@dataclass
class ExecutionResult:
    status: ExperimentStatus
    estimate: CostEstimate
    provider_calls: int


class ExperimentExecution:
    def __init__(self, database: Database, settings: PromptLab):
        self.database, self.settings = database, settings

    async def run(self, name: str, options: ExecutionOptions, evaluators: Sequence[Evaluator] = ()) -> ExecutionResult:
        cache = ResponseCache(self.database, enabled=options.cache)
        registry = ProviderRegistry(self.settings.providers)
        caller = ModelCaller(registry, self._limits(options), self._policy(), cache, stream_to=options.stream_to)
        try:
            with claim_token() as claim:
                experiment, tasks, estimate = self._prepare(name, claim, cache, registry, options.confirm, evaluators)
                status = await self._execute(experiment, claim, tasks, caller, estimate, options, evaluators)
        finally:
            await registry.aclose()
        return ExecutionResult(status, estimate, caller.calls)

    def _prepare(
        self,
        name: str,
        claim: str,
        cache: ResponseCache,
        registry: ProviderRegistry,
        confirmed: bool,
        evaluators: Sequence[Evaluator] = (),
    ) -> tuple[ExperimentRecord, list[RunTask], CostEstimate]:
        """In one unit of work: claim the experiment, store the runs an earlier run of it in this session
        could not store, find what is missing, the tasks for it, what they will cost; then mark the
        experiment running. A refused cost or claim leaves the store as it was."""
        with self.database.session() as session:
            service = ExperimentService(session)
            experiment = service.get(name)
            service.claim(experiment.id, claim, self.settings.claim_stale_after)
            self._store_unsaved(session, experiment.id)
            service.clear_unfinished(experiment.id)
            tasks = self._missing_tasks(session, experiment)
            _check_providers_configured((task.chain for task in tasks), registry)
            estimate = self.estimate(tasks, cache, registry, session, evaluators)
            self.check_cost(estimate, confirmed)
            service.set_status(experiment.id, ExperimentStatus.RUNNING)
        unsaved_runs(self.database).pop(experiment.id, None)
        return experiment, tasks, estimate

    def _store_unsaved(self, session, experiment_id: str) -> None:
        unsaved = unsaved_runs(self.database).get(experiment_id)
        if unsaved:
            unsaved.write(session.connection(), skip_stored_runs=True)

    async def _execute(
        self,
        experiment: ExperimentRecord,
        claim: str,
        tasks: list[RunTask],
        caller: ModelCaller,
        estimate: CostEstimate,
        options: ExecutionOptions,
        evaluators: Sequence[Evaluator],
    ) -> ExperimentStatus:
        sink = RunSink(
            self.database,
            caller.cache,
            heartbeat=lambda connection: ExperimentService.heartbeat(connection, experiment.id, claim),
            heartbeat_every=self.settings.claim_stale_after / 4,
        )
        status = ExperimentStatus.INTERRUPTED
        try:
            scorer = RunScorer(evaluators, caller, self.settings.default_model, experiment.id) if evaluators else None
            description = f"{experiment.name}: {estimate.describe()}"
            progress = Progress(len(tasks), description, enabled=options.progress, on_run=options.on_run)
            workers = options.concurrency or self.settings.concurrency
            status = await ExperimentRunner(caller, sink, progress, workers=workers, scorer=scorer).execute(tasks)
        finally:
            await self._store_the_rest(sink, experiment, claim, status)
        return status

    async def _store_the_rest(
        self, sink: RunSink, experiment: ExperimentRecord, claim: str, status: ExperimentStatus
    ) -> None:
        """The last write: the runs left, the experiment's status and the end of its claim, together.
        When it fails the runs are kept for the experiment's next run in this session."""

        def end_run(connection) -> None:
            ExperimentService.mark(connection, experiment.id, status)
            ExperimentService.release(connection, experiment.id, claim)

        try:
            await sink.finish(end_run)
        except Exception as error:
            unsaved = sink.unsaved()
            unsaved_runs(self.database)[experiment.id] = unsaved
            if isinstance(error, StoreLocked):
                raise RunsNotStored(error, experiment.name, len(unsaved.runs)) from error
            raise

    async def evaluate(self, name: str, evaluators: Sequence[Evaluator], options: ExecutionOptions) -> int:
        """Score every successful run of ``name`` again with ``evaluators``, without calling its models;
        judges call theirs. Earlier scores of the same evaluators are replaced. Returns the runs scored."""
        with self.database.session() as session:
            experiment = ExperimentService(session).get(name)
            runs = ScoreService(session).finished_runs(experiment.id)
        cache = ResponseCache(self.database, enabled=options.cache)
        registry = ProviderRegistry(self.settings.providers)
        caller = ModelCaller(registry, self._limits(options), self._policy(), cache)
        scorer = RunScorer(evaluators, caller, self.settings.default_model, experiment.id)
        limit = asyncio.Semaphore(options.concurrency or self.settings.concurrency)

        async def score(run: dict[str, Any]) -> list[dict[str, Any]]:
            async with limit:
                return await scorer.score(run["id"], run["output"], run["parsed"], run["inputs"], run["facts"])

        try:
            scored = await asyncio.gather(*(score(run) for run in runs))
        finally:
            await registry.aclose()
        records = [record for records in scored for record in records]
        with self.database.session() as session:
            ScoreService(session).replace(experiment.id, [evaluator.name for evaluator in evaluators], records)
            ResponseCache.write(session.connection(), cache.take_pending())
        return len(runs)

    def missing_tasks(self, name: str) -> tuple[ExperimentRecord, list[RunTask]]:
        """The experiment and a task for every cell to run; failed and interrupted runs are cleared first."""
        with self.database.session() as session:
            service = ExperimentService(session)
            experiment = service.get(name)
            service.clear_unfinished(experiment.id)
            return experiment, self._missing_tasks(session, experiment)

    def unstored_tasks(self, experiment: ExperimentRecord) -> list[RunTask]:
        """A task for every cell of ``experiment`` that has no stored run at all, not even a failed one."""
        with self.database.session() as session:
            rows = ExperimentService(session).rows(experiment.id)
            stored = BatchService(session).stored_cells(experiment.id)
            return self._tasks(experiment, rows, stored, self._chains(session, experiment))

    def _missing_tasks(self, session, experiment: ExperimentRecord) -> list[RunTask]:
        """Tasks for the cells with no successful run that await no provider batch."""
        service = ExperimentService(session)
        skipped = service.finished_cells(experiment.id) | BatchService(session).awaited_cells(experiment)
        return self._tasks(experiment, service.rows(experiment.id), skipped, self._chains(session, experiment))

    @staticmethod
    def _tasks(
        experiment: ExperimentRecord,
        rows: list[dict[str, Any]],
        finished: set[tuple[str, int, int]],
        chains: list[StepChain],
    ) -> list[RunTask]:
        variants = experiment.variants
        return [
            RunTask(
                experiment_id=experiment.id,
                variant_id=variants[cell.variant_index].id,
                kind=variants[cell.variant_index].kind,
                row_index=cell.row_index,
                repeat=cell.repeat,
                inputs=rows[cell.row_index],
                chain=chains[cell.variant_index],
            )
            for cell in cells(len(variants), len(rows), experiment.repeats)
            if (variants[cell.variant_index].id, cell.row_index, cell.repeat) not in finished
        ]

    def _chains(self, session: Session, experiment: ExperimentRecord) -> list[StepChain]:
        templates = TemplateService(session, self.settings)
        steps = pinned_steps(experiment.settings)
        return [
            StepChain(
                [self._template_step(templates, variant)]
                if variant.kind == "template"
                else [self._pipeline_step(templates, step) for step in steps[variant.label]]
            )
            for variant in experiment.variants
        ]

    def _template_step(self, templates: TemplateService, variant: VariantRecord) -> TemplateStep:
        template = templates.get(variant.target_name, variant.target_version)
        return TemplateStep(
            position=1,
            name=template.name,
            template=compile_template(template.body, template.name, templates.limits),
            template_ref=template.ref,
            model=variant.model or self.settings.default_model,
            params=variant.params,
        )

    @staticmethod
    def _pipeline_step(templates: TemplateService, step: PinnedStep) -> TemplateStep:
        template = templates.get(step.template, step.version)
        return TemplateStep(
            position=step.position,
            name=step.name,
            template=compile_template(template.body, template.name, templates.limits),
            template_ref=template.ref,
            model=step.model,
            params=step.params,
            output_name=step.output,
            parse=step.parse,
        )

    def estimate(
        self,
        tasks: list[RunTask],
        cache: ResponseCache,
        registry: ProviderRegistry,
        session,
        evaluators: Sequence[Evaluator] = (),
        *,
        batch: bool = False,
    ) -> CostEstimate:
        """Calls still to make and their estimated cost. Single-template runs are looked up in the cache
        first; a pipeline's later steps depend on earlier outputs, so each of its steps counts as a call.
        Every run adds the calls its evaluators make to score it (a judge's, always live). ``batch``:
        the runs' calls go through batch APIs, at batch prices. Each task's first call is rendered
        here, once, and kept for the run (``prepare_first_calls``)."""
        prepare_first_calls(tasks, registry)
        cache.prefetch((task.first_call.key for task in tasks if task.first_call and task.kind == "template"), session)
        estimate = CostEstimate()
        calling = [evaluator for evaluator in evaluators if getattr(evaluator, "planned_calls", None) is not None]
        per_step: dict[TemplateStep, list[int]] = {}
        for task in tasks:
            for call in self._scoring_calls(task, calling) if calling else ():
                estimate.add(call, registry.get(call.spec.provider))
            if task.kind == "template" and task.first_call and cache.has(task.first_call.key):
                estimate.cached += 1
                continue
            input_chars = sum(len(part["content"]) for part in _first_messages(task))
            for step in task.chain.steps:
                counted = per_step.setdefault(step, [0, 0])
                counted[0] += 1
                counted[1] += input_chars
        for step, (calls, input_chars) in per_step.items():
            call = PlannedCall(step.spec, input_chars, step.params.get("max_tokens"))
            estimate.add(call, registry.get(step.spec.provider), batch=batch, count=calls)
        return estimate

    def _scoring_calls(self, task: RunTask, evaluators: Sequence[Evaluator]) -> list[PlannedCall]:
        output_chars = expected_output_chars(task.chain.steps[-1].params.get("max_tokens"))
        return planned_scoring_calls(evaluators, task.inputs, output_chars, self.settings.default_model)

    def check_start(
        self,
        session,
        planned: ExperimentRecord,
        rows: list[dict[str, Any]],
        options: ExecutionOptions,
        evaluators: Sequence[Evaluator] = (),
        *,
        batch: bool = False,
    ) -> None:
        """What ``run`` or a batch submit refuses before its first call (a provider unknown or not
        configured, an estimate above the cost limit), checked on an experiment not stored yet: a
        refused start stores nothing."""
        chains = self._chains(session, planned)
        registry = ProviderRegistry(self.settings.providers)
        _check_providers_configured(chains, registry)
        if self.settings.cost_limit and not options.confirm and _may_cost(chains, registry, evaluators):
            tasks = self._tasks(planned, rows, set(), chains)
            cache = ResponseCache(self.database, enabled=options.cache)
            estimate = self.estimate(tasks, cache, registry, session, evaluators, batch=batch)
            self.check_cost(estimate, options.confirm)

    def check_cost(self, estimate: CostEstimate, confirmed: bool) -> None:
        """Under a cost limit, refuse unless confirmed: an estimate above it, or paid calls without a known price."""
        limit = self.settings.cost_limit
        if not limit or confirmed:
            return
        if estimate.cost > limit:
            raise CostLimitExceeded(estimate.cost, limit, estimate.calls)
        if estimate.unpriced_paid:
            raise UnpricedModels(estimate.unpriced_paid, limit)

    def caller(self, options: ExecutionOptions, registry: ProviderRegistry, cache: ResponseCache) -> ModelCaller:
        return ModelCaller(registry, self._limits(options), self._policy(), cache)

    def _limits(self, options: ExecutionOptions) -> Limits:
        return Limits(
            options.concurrency or self.settings.concurrency,
            self.settings.provider_concurrency,
            self.settings.rate_limits,
        )

    def _policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_retries=self.settings.max_retries,
            timeout=self.settings.timeout,
            max_wait=self.settings.max_retry_wait,
        )


def task_cache_key(task: RunTask, registry: ProviderRegistry) -> str | None:
    """The cache key of a single-template run at the server ``registry`` reaches, None when its
    prompt cannot be rendered."""
    prepare_first_calls([task], registry)
    return task.first_call.key if task.first_call else None


def _first_messages(task: RunTask) -> list[dict[str, str]]:
    return task.first_call.request.messages if task.first_call else []


def _may_cost(chains: list[StepChain], registry: ProviderRegistry, evaluators: Sequence[Evaluator]) -> bool:
    """Whether any call of these runs may be charged: a paid provider, a price above zero, or an evaluator
    that calls a model. Runs that cannot cost anything (offline or local models) need no estimate to start."""
    if any(getattr(evaluator, "planned_calls", None) is not None for evaluator in evaluators):
        return True
    for step in {step for chain in chains for step in chain.steps}:
        provider = registry.get(step.spec.provider)
        price = provider.price(step.spec.model)
        if provider.paid or (price is not None and (price.input_per_million or price.output_per_million)):
            return True
    return False


def _check_providers_configured(chains: Iterable[StepChain], registry: ProviderRegistry) -> None:
    """A missing key or base URL is one clear error before any run, not a failure on every run."""
    for provider in sorted({step.spec.provider for chain in chains for step in chain.steps}):
        registry.get(provider).check_configured()
