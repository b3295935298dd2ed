"""Executing an experiment through the providers' batch APIs: submit what is not cached, then
store the answers as normal runs whenever they are ready (also from another session).

Like ExperimentExecution this takes the Database: each read or write is its own short unit of
work. A batch is recorded before it is submitted and its id stored as soon as the provider gave it;
one the provider accepted while the kernel died before hearing back is found again by ``refresh``.
``refresh`` and ``cancel`` also handle the batches of the experiment's judges (``judge_batches``).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import Connection

from promptlab_nb.core.config import PromptLab
from promptlab_nb.core.errors import BatchModeUnsupported, BatchNotSupported, InvalidData, PromptLabError, ProviderError
from promptlab_nb.core.ids import utcnow
from promptlab_nb.core.vocabulary import BatchStatus, ExperimentStatus, Mode
from promptlab_nb.engine.batch_answers import BatchAnswers, CellId, response_of, split_lines
from promptlab_nb.engine.cache import ResponseCache, cache_key
from promptlab_nb.engine.costs import CostEstimate
from promptlab_nb.engine.progress import Progress
from promptlab_nb.engine.providers.base import ChatResponse, Provider
from promptlab_nb.engine.providers.batch_api import BatchState
from promptlab_nb.engine.providers.registry import ProviderRegistry
from promptlab_nb.engine.runner import ExperimentRunner, RunTask
from promptlab_nb.engine.sink import RunSink
from promptlab_nb.engine.steps import ModelCaller
from promptlab_nb.evaluation.evaluators import Evaluator
from promptlab_nb.evaluation.judge import JUDGE_KIND
from promptlab_nb.evaluation.pairwise import PAIRWISE_KIND
from promptlab_nb.evaluation.run_scoring import RunScorer
from promptlab_nb.schemas.experiment_records import ExperimentRecord
from promptlab_nb.services.execution import ExecutionOptions, ExperimentExecution, task_cache_key
from promptlab_nb.services.experiments import ExperimentService, claimed
from promptlab_nb.services.judge_batches import JudgeBatches, JudgedJob, ScoreJudging
from promptlab_nb.services.judging import PairwiseJudging
from promptlab_nb.services.provider_batches import BatchService, FinishedBatch, StoredBatch
from promptlab_nb.store.database import Database

SUBMIT_GRACE = timedelta(minutes=30)


@dataclass
class BatchReport:
    """What one submit, refresh or cancel did: the experiment's status after it, the requests
    sent in new batches, the runs stored now and the requests still awaited; ``judged``: the
    verdicts and scores of judges stored now, ``judge_awaited`` their requests still awaited."""

    status: ExperimentStatus
    submitted: int = 0
    stored: int = 0
    awaited: int = 0
    estimate: CostEstimate | None = None
    judged: int = 0
    judge_awaited: int = 0


class RunStorer:
    """Stores tasks as batch-mode runs through the runner, each answered by the given caller (the
    cache, or its batch's answer); evaluators score them, judges calling their models through ``caller``."""

    def __init__(
        self,
        database: Database,
        experiment_name: str,
        caller: ModelCaller,
        scorer: RunScorer | None,
        options: ExecutionOptions,
        workers: int,
    ):
        self.database, self.experiment_name = database, experiment_name
        self.caller, self.cache, self.scorer = caller, caller.cache, scorer
        self.options, self.workers = options, workers

    async def store(
        self,
        tasks: list[RunTask],
        answerer: ModelCaller | BatchAnswers,
        last_write: Callable[[Connection], None] | None = None,
    ) -> None:
        """Store a run for each task, and do ``last_write`` in the same unit of work as the last runs.
        An interrupt stores the runs that finished, leaves ``last_write`` undone, and is raised again."""
        for task in tasks:
            task.mode = Mode.BATCH
        progress = Progress(
            len(tasks),
            f"{self.experiment_name}: storing runs",
            enabled=self.options.progress,
            on_run=self.options.on_run,
        )
        sink = RunSink(self.database, self.cache, skip_stored_runs=True)
        runner = ExperimentRunner(answerer, sink, progress, self.workers, self.scorer)
        status = ExperimentStatus.INTERRUPTED
        try:
            status = await runner.execute(tasks)
        finally:
            await sink.finish(last_write if status == ExperimentStatus.COMPLETED else None)
        if status != ExperimentStatus.COMPLETED:
            raise asyncio.CancelledError


class BatchExecution:
    def __init__(self, database: Database, settings: PromptLab):
        self.database, self.settings = database, settings
        self.live = ExperimentExecution(database, settings)

    async def submit(self, name: str, options: ExecutionOptions, evaluators: Sequence[Evaluator] = ()) -> BatchReport:
        """Store the cached runs at once and send the others as provider batches."""
        experiment, tasks = self.live.missing_tasks(name)
        _refuse_pipelines(experiment)
        with self._claimed(experiment):
            return await self._submit(experiment, tasks, options, evaluators)

    async def _submit(
        self,
        experiment: ExperimentRecord,
        tasks: list[RunTask],
        options: ExecutionOptions,
        evaluators: Sequence[Evaluator],
    ) -> BatchReport:
        cache = ResponseCache(self.database, enabled=options.cache)
        registry = ProviderRegistry(self.settings.providers)
        try:
            to_send, at_once = _split_cached(tasks, cache, registry)
            groups = _grouped_by_model(to_send, registry)
            with self.database.session() as session:
                estimate = self.live.estimate(tasks, cache, registry, session, evaluators, batch=True)
            self.live.check_cost(estimate, options.confirm)
            storer = self._storer(experiment, options, evaluators, registry, cache)
            await storer.store(
                at_once,
                storer.caller,
                lambda connection: BatchService.mark_batch_mode(connection, experiment.id, ExperimentStatus.RUNNING),
            )
            for (provider_name, model), group in groups.items():
                await self._submit_group(experiment, registry.get(provider_name), model, group, storer)
        finally:
            await registry.aclose()
        awaited = self._awaited(experiment)
        self._set_status(experiment.id, ExperimentStatus.SUBMITTED if awaited else ExperimentStatus.COMPLETED)
        return BatchReport(
            ExperimentStatus.SUBMITTED if awaited else ExperimentStatus.COMPLETED,
            submitted=len(to_send),
            stored=len(at_once),
            awaited=awaited,
            estimate=estimate,
        )

    async def refresh(self, name: str, options: ExecutionOptions, evaluators: Sequence[Evaluator] = ()) -> BatchReport:
        """Ask the provider about every batch not collected yet and store the runs of those that finished.
        Once none is awaited the experiment is ``completed``, or ``cancelled`` when one was cancelled."""
        with self.database.session() as session:
            experiment = ExperimentService(session).get(name)
            batches = BatchService(session).uncollected(experiment.id)
        if not batches:
            return BatchReport(experiment.status)
        with self._claimed(experiment):
            return await self._refresh(experiment, batches, options, evaluators)

    async def _refresh(
        self,
        experiment: ExperimentRecord,
        batches: list[StoredBatch],
        options: ExecutionOptions,
        evaluators: Sequence[Evaluator],
    ) -> BatchReport:
        registry = ProviderRegistry(self.settings.providers)
        cache = ResponseCache(self.database, enabled=options.cache)
        try:
            finished = [done for batch in batches if (done := await self._finished(batch, registry)) is not None]
            runs_done = [done for done in finished if done.batch.judging is None]
            stored = (
                await self._collect(experiment, runs_done, registry, cache, options, evaluators) if runs_done else 0
            )
            judged = await self._collect_judged(experiment, batches, finished, registry)
        finally:
            await registry.aclose()
        judge_awaited = self._judge_awaited(experiment)
        if all(batch.judging is not None for batch in batches):
            return BatchReport(experiment.status, judged=judged, judge_awaited=judge_awaited)
        awaited = self._awaited(experiment)
        cancelled = any(done.state.status == BatchStatus.CANCELLED for done in runs_done)
        status = (
            ExperimentStatus.SUBMITTED
            if awaited
            else ExperimentStatus.CANCELLED
            if cancelled
            else ExperimentStatus.COMPLETED
        )
        self._set_status(experiment.id, status)
        return BatchReport(status, stored=stored, awaited=awaited, judged=judged, judge_awaited=judge_awaited)

    async def _collect_judged(
        self,
        experiment: ExperimentRecord,
        batches: list[StoredBatch],
        finished: list[FinishedBatch],
        registry: ProviderRegistry,
    ) -> int:
        """Store the verdicts and scores of every judge job whose batches have all finished."""
        finished_ids = {done.batch.id for done in finished}
        waiting = {batch.judging["job"] for batch in batches if batch.judging and batch.id not in finished_ids}
        jobs: dict[str, list[FinishedBatch]] = defaultdict(list)
        for done in finished:
            if done.batch.judging is not None and done.batch.judging["job"] not in waiting:
                jobs[done.batch.judging["job"]].append(done)
        judges = JudgeBatches(self.database, self.settings)
        kinds = self._judge_jobs()
        return sum([await judges.collect(experiment, done, registry, kinds) for done in jobs.values()])

    def _judge_jobs(self) -> dict[str, JudgedJob]:
        return {
            PAIRWISE_KIND: PairwiseJudging(self.database, self.settings),
            JUDGE_KIND: ScoreJudging(self.database, self.settings),
        }

    async def cancel(self, name: str, options: ExecutionOptions, evaluators: Sequence[Evaluator] = ()) -> BatchReport:
        """Cancel every batch still running, then store what they answered before they stopped."""
        with self.database.session() as session:
            experiment = ExperimentService(session).get(name)
            batches = BatchService(session).uncollected(experiment.id)
        with self._claimed(experiment):
            await self._cancel_at_providers(batches)
        return await self.refresh(name, options, evaluators)

    async def _cancel_at_providers(self, batches: list[StoredBatch]) -> None:
        registry = ProviderRegistry(self.settings.providers)
        try:
            for batch in batches:
                provider = registry.get(batch.provider)
                located = batch if batch.provider_batch_id else await self._adopt(batch, provider)
                if located is not None and located.provider_batch_id is not None:
                    self._update(located, await provider.cancel_batch(located.provider_batch_id))
        finally:
            await registry.aclose()

    async def _submit_group(
        self,
        experiment: ExperimentRecord,
        provider: Provider,
        model: str,
        tasks: list[RunTask],
        storer: RunStorer,
    ) -> None:
        """Submit the requests of one model in as many batches as its provider's limits need, each
        recorded first; the requests of a batch the provider refused are stored as failed runs with its reason."""
        positions = {variant.id: position for position, variant in enumerate(experiment.variants)}
        by_custom_id = {_cell_of(task, positions).custom_id: task for task in tasks}
        lines = [
            provider.batch_line(custom_id, task.chain.steps[0].request(task.inputs))
            for custom_id, task in by_custom_id.items()
        ]
        if provider.batch_limits is None:
            raise BatchNotSupported(provider.name)
        for group in split_lines(lines, provider.batch_limits):
            custom_ids = [line["custom_id"] for line in group]
            with self.database.session() as session:
                intent = BatchService(session).record_intent(experiment.id, provider.name, model, custom_ids)
            try:
                state = await provider.submit_batch(model, group, intent.intent())
            except ProviderError as error:
                await self._store_refused(intent, [by_custom_id[custom_id] for custom_id in custom_ids], error, storer)
                continue
            with self.database.session() as session:
                BatchService(session).confirm(intent.id, state)

    @staticmethod
    async def _store_refused(
        intent: StoredBatch, tasks: list[RunTask], error: ProviderError, storer: RunStorer
    ) -> None:
        await storer.store(
            tasks,
            BatchAnswers(
                {key: error for task in tasks if (key := _answer_key(task)) is not None},
                storer.cache,
                storer.caller.registry,
            ),
            lambda connection: BatchService.mark_refused(connection, intent.id, str(error)),
        )

    async def _finished(self, batch: StoredBatch, registry: ProviderRegistry) -> FinishedBatch | None:
        provider = registry.get(batch.provider)
        batch_id = batch.provider_batch_id
        if batch_id is None:
            adopted = await self._adopt(batch, provider)
            if adopted is None or adopted.provider_batch_id is None:
                return self._abandoned(batch, provider)
            batch, batch_id = adopted, adopted.provider_batch_id
        state = await provider.batch_state(batch_id)
        self._update(batch, state)
        if not state.finished:
            return None
        outcomes = await provider.batch_outcomes(batch_id)
        return FinishedBatch(batch, state, {outcome.custom_id: outcome for outcome in outcomes})

    async def _collect(
        self,
        experiment: ExperimentRecord,
        finished: list[FinishedBatch],
        registry: ProviderRegistry,
        cache: ResponseCache,
        options: ExecutionOptions,
        evaluators: Sequence[Evaluator],
    ) -> int:
        """Store a run for every request of the finished batches that has none yet, then mark them collected."""
        positions = {variant.id: position for position, variant in enumerate(experiment.variants)}
        answered = {cell.custom_id: done for done in finished for cell in done.batch.cells}
        tasks = [
            task for task in self.live.unstored_tasks(experiment) if _cell_of(task, positions).custom_id in answered
        ]
        storer = self._storer(experiment, options, evaluators, registry, cache)
        collected = [done.batch.id for done in finished]
        await storer.store(
            tasks,
            BatchAnswers(_answers(tasks, positions, answered, registry), cache, registry),
            lambda connection: BatchService.mark_collected(connection, collected),
        )
        return len(tasks)

    async def _adopt(self, intent: StoredBatch, provider: Provider) -> StoredBatch | None:
        """The provider's batch of an intent whose submit did not record it (the kernel died or was
        interrupted while the provider accepted it), recorded now; None when the provider has none."""
        with self.database.session() as session:
            claimed = BatchService(session).claimed(provider.name)
        state = await provider.find_batch(intent.intent(claimed))
        if state is None:
            return None
        with self.database.session() as session:
            BatchService(session).confirm(intent.id, state)
        return replace(intent, provider_batch_id=state.batch_id, status=state.status)

    def _abandoned(self, intent: StoredBatch, provider: Provider) -> FinishedBatch | None:
        """An intent the provider has no batch for failed, once no submit of it can still be under way."""
        if utcnow() - intent.submitted_at < SUBMIT_GRACE:
            return None
        reason = f"{provider.name} has no such batch: the submit stopped before {provider.name} accepted it"
        state = BatchState(batch_id="", status=BatchStatus.FAILED, error=reason)
        self._update(intent, state)
        return FinishedBatch(intent, state, {})

    def _storer(
        self,
        experiment: ExperimentRecord,
        options: ExecutionOptions,
        evaluators: Sequence[Evaluator],
        registry: ProviderRegistry,
        cache: ResponseCache,
    ) -> RunStorer:
        caller = self.live.caller(options, registry, cache)
        scorer = RunScorer(evaluators, caller, self.settings.default_model, experiment.id) if evaluators else None
        workers = options.concurrency or self.settings.concurrency
        return RunStorer(self.database, experiment.name, caller, scorer, options, workers)

    def _update(self, batch: StoredBatch, state: BatchState) -> None:
        with self.database.session() as session:
            BatchService(session).update_state(batch.id, state)

    def _awaited(self, experiment: ExperimentRecord) -> int:
        with self.database.session() as session:
            return len(BatchService(session).awaited_cells(experiment))

    def _judge_awaited(self, experiment: ExperimentRecord) -> int:
        with self.database.session() as session:
            batches = BatchService(session).uncollected(experiment.id)
        return sum(len(batch.custom_ids) for batch in batches if batch.judging is not None)

    def _claimed(self, experiment: ExperimentRecord) -> AbstractContextManager[str]:
        """No two sessions submit, collect or cancel the batches of one experiment at once."""
        return claimed(self.database, experiment.id, self.settings.claim_stale_after)

    def _set_status(self, experiment_id: str, status: ExperimentStatus) -> None:
        with self.database.session() as session:
            ExperimentService(session).set_status(experiment_id, status)


def is_batch_mode(mode: str) -> bool:
    """Whether ``mode`` asks for provider batches; anything but "live" or "batch" is refused."""
    if mode not in tuple(Mode):
        raise InvalidData(f'mode is "live" or "batch", not {mode!r}.')
    return mode == Mode.BATCH


def _refuse_pipelines(experiment: ExperimentRecord) -> None:
    pipelines = [variant.label for variant in experiment.variants if variant.kind == "pipeline"]
    if pipelines:
        raise BatchModeUnsupported(
            f"Batch mode sends every request at once, but a pipeline's later steps need its earlier outputs "
            f"({', '.join(pipelines)}). Experiment {experiment.name!r} is stored: run it live with "
            f"lab.experiment({experiment.name!r}).resume()."
        )


def _split_cached(
    tasks: list[RunTask], cache: ResponseCache, registry: ProviderRegistry
) -> tuple[list[RunTask], list[RunTask]]:
    """The tasks to send, and those stored at once: answered by the cache, or whose prompt cannot be rendered."""
    keys = {id(task): task_cache_key(task, registry) for task in tasks}
    cache.prefetch(key for key in keys.values() if key)
    to_send = [task for task in tasks if (key := keys[id(task)]) is not None and not cache.has(key)]
    sent = {id(task) for task in to_send}
    return to_send, [task for task in tasks if id(task) not in sent]


def _grouped_by_model(tasks: list[RunTask], registry: ProviderRegistry) -> dict[tuple[str, str], list[RunTask]]:
    """Tasks per (provider, model), a batch holding one model; refused before anything is sent
    when a provider has no batch API."""
    groups: dict[tuple[str, str], list[RunTask]] = defaultdict(list)
    for task in tasks:
        spec = task.chain.steps[0].spec
        groups[(spec.provider, spec.model)].append(task)
    for provider_name, _ in groups:
        if registry.get(provider_name).batch_limits is None:
            raise BatchNotSupported(provider_name)
    return dict(groups)


def _cell_of(task: RunTask, positions: dict[str, int]) -> CellId:
    return CellId(positions[task.variant_id], task.row_index, task.repeat)


def _answers(
    tasks: list[RunTask], positions: dict[str, int], answered: dict[str, FinishedBatch], registry: ProviderRegistry
) -> dict[str, ChatResponse | ProviderError]:
    """Each task's answer by its cache key; a task whose prompt no longer renders has none (the runner records why)."""
    answers: dict[str, ChatResponse | ProviderError] = {}
    for task in tasks:
        step = task.chain.steps[0]
        try:
            request = step.request(task.inputs)
        except PromptLabError:
            continue
        cell = _cell_of(task, positions)
        done = answered[cell.custom_id]
        outcome = done.outcome_of(cell.custom_id)
        provider = registry.get(done.batch.provider)
        try:
            answer: ChatResponse | ProviderError = response_of(
                outcome, request, provider.batch_price(done.batch.model), provider.name
            )
        except ProviderError as error:
            answer = error
        answers[cache_key(step.spec, request, task.repeat)] = answer
    return answers


def _answer_key(task: RunTask) -> str | None:
    """The key ``BatchAnswers`` finds a task's answer under (a batch holds one server's answers, so no
    endpoint); None when its prompt no longer renders."""
    step = task.chain.steps[0]
    try:
        return cache_key(step.spec, step.request(task.inputs), task.repeat)
    except PromptLabError:
        return None
