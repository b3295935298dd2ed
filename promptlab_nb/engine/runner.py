"""The async runner: executes run tasks with bounded concurrency, writes finished runs in bulk,
and on cancellation records what was in flight as cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from promptlab_nb.core.errors import PromptLabError
from promptlab_nb.core.ids import new_id, utcnow
from promptlab_nb.core.vocabulary import ExperimentStatus, Mode, RunStatus
from promptlab_nb.engine.progress import Progress
from promptlab_nb.engine.providers.base import Message
from promptlab_nb.engine.providers.registry import ProviderRegistry
from promptlab_nb.engine.run_rows import RunRecord
from promptlab_nb.engine.sink import RunSink
from promptlab_nb.engine.steps import Caller, PreparedCall, RunContext, StepChain, StepFailed, StepRecord

YIELD_EVERY = 64


class ScoreRun(Protocol):
    at_once: bool
    """Whether ``score_at_once`` scores every run (no evaluator calls a model)."""

    def __call__(self, task: RunTask, record: RunRecord) -> Awaitable[list[dict[str, Any]]]: ...

    def score_at_once(self, task: RunTask, record: RunRecord) -> list[dict[str, Any]]: ...


@dataclass(slots=True)
class RunTask:
    experiment_id: str
    variant_id: str
    kind: str
    row_index: int
    repeat: int
    inputs: dict[str, Any]
    chain: StepChain
    mode: Mode = Mode.LIVE
    prepared: bool = False
    first_call: PreparedCall | None = None
    """The first step's call rendered ahead (``prepare_first_calls``); None when its prompt cannot be rendered."""


def prepare_first_calls(tasks: list[RunTask], registry: ProviderRegistry) -> None:
    """Render each task's first call and compute its cache key, once: a template is rendered once per
    data row, whatever the models, params and repeats that send it. Tasks already prepared are kept."""
    rendered: dict[tuple[int, int], list[Message] | None] = {}
    endpoints: dict[str, str] = {}
    for task in tasks:
        if task.prepared:
            continue
        step = task.chain.steps[0]
        provider = step.spec.provider
        if provider not in endpoints:
            endpoints[provider] = registry.get(provider).endpoint
        memo = (id(step.template), id(task.inputs))
        if memo not in rendered:
            rendered[memo] = _rendered(step.template, task.inputs)
        messages = rendered[memo]
        task.first_call = step.prepared(messages, task.repeat, endpoints[provider]) if messages is not None else None
        task.prepared = True


def _rendered(template, variables: dict[str, Any]) -> list[Message] | None:
    """None when the prompt cannot be rendered: the run renders it again and records why."""
    try:
        return template.render(variables)
    except PromptLabError:
        return None


def _total(values: list[Any]) -> Any:
    return None if not values or any(value is None for value in values) else sum(values)


_TOTALLED = ("latency_ms", "input_tokens", "output_tokens", "cost")


def _totals(steps: list[StepRecord]) -> tuple[Any, ...]:
    """Latency, tokens and cost over the steps, unknown (None) when a step's is."""
    if len(steps) == 1:
        step = steps[0]
        return step.latency_ms, step.input_tokens, step.output_tokens, step.cost
    return tuple(_total([getattr(step, name) for step in steps]) for name in _TOTALLED)


def _first_failed(steps: list[StepRecord]) -> StepRecord | None:
    for step in steps:
        if step.status != RunStatus.OK:
            return step
    return None


def run_record(
    task: RunTask,
    context: RunContext,
    started_at: datetime,
    status: RunStatus,
    error: str | None = None,
    finished_at: datetime | None = None,
) -> RunRecord:
    steps = context.steps
    last = steps[-1] if steps else None
    failed = _first_failed(steps)
    succeeded = status == RunStatus.OK
    latency_ms, input_tokens, output_tokens, cost = _totals(steps)
    return RunRecord(
        id=new_id(),
        experiment_id=task.experiment_id,
        variant_id=task.variant_id,
        row_index=task.row_index,
        repeat=task.repeat,
        status=status,
        mode=task.mode,
        messages=last.messages if last else None,
        output=last.output if last and succeeded else None,
        parsed=last.parsed if last and succeeded else None,
        error=error or (failed.error if failed else None),
        failed_step=failed.name if failed and task.kind == "pipeline" else None,
        latency_ms=latency_ms,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=cost,
        cache_hit=bool(steps) and all(step.cache_hit for step in steps),
        request_id=last.request_id if last else None,
        started_at=started_at,
        finished_at=finished_at or utcnow(),
    )


def step_records(run_id: str, steps: list[StepRecord]) -> list[dict[str, Any]]:
    records = []
    for step in steps:
        record = asdict(step)
        record.pop("request_id")
        records.append({"id": new_id(), "run_id": run_id, **record})
    return records


class ExperimentRunner:
    def __init__(
        self,
        caller: Caller,
        sink: RunSink,
        progress: Progress,
        workers: int,
        scorer: ScoreRun | None = None,
    ):
        self.caller, self.sink, self.progress = caller, sink, progress
        self.workers = max(1, workers)
        self.scorer = scorer
        self._at_once = scorer is None or scorer.at_once

    async def execute(self, tasks: list[RunTask]) -> ExperimentStatus:
        """Run every task; returns completed, or interrupted when cancelled part-way."""
        pending = iter(tasks)
        workers = [asyncio.create_task(self._work(pending)) for _ in range(min(self.workers, len(tasks)))]
        flushing = asyncio.create_task(self._flush_while_running())
        try:
            await asyncio.gather(*workers)
            return ExperimentStatus.COMPLETED
        except asyncio.CancelledError:
            return ExperimentStatus.INTERRUPTED
        finally:
            for worker in [*workers, flushing]:
                worker.cancel()
            await asyncio.gather(*workers, flushing, return_exceptions=True)
            self.progress.close()

    async def _flush_while_running(self) -> None:
        """Flushes also while no run finishes (slow calls), so the sink's heartbeat keeps going."""
        while True:
            await asyncio.sleep(self.sink.interval)
            await self.sink.maybe_flush()

    async def _work(self, pending) -> None:
        """Runs tasks one after the other. Every ``YIELD_EVERY`` runs it lets the loop go round, also
        while the runs are answered at once (the cache, an offline model): the flush due then starts
        writing in its thread while runs go on, and a cancel (the kernel's interrupt) lands."""
        for count, task in enumerate(pending, 1):
            if not self._finished_at_once(task):
                await self._run_one(task)
            if self.sink.flush_due():
                await self.sink.maybe_flush()
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)

    def _finished_at_once(self, task: RunTask) -> bool:
        """Run, store and score a single-template run without a coroutine when its answer needs no waiting
        (the cache, an offline model) and its evaluators call no model; False, nothing done, otherwise."""
        if not self._at_once or task.kind != "template" or task.first_call is None:
            return False
        context = RunContext(variables=task.inputs, repeat=task.repeat)
        now = utcnow()
        try:
            if not task.chain.steps[0].answered_at_once(context, self.caller, task.first_call):
                return False
            record = run_record(task, context, now, RunStatus.OK, finished_at=now)
        except StepFailed:
            record = run_record(task, context, now, RunStatus.ERROR, finished_at=now)
        self.sink.add(record, [], [])
        if self.scorer and record.status == RunStatus.OK:
            self.sink.add_scores(self.scorer.score_at_once(task, record))
        self.progress.advance(record)
        return True

    async def _run_one(self, task: RunTask) -> None:
        context = RunContext(variables=dict(task.inputs), repeat=task.repeat)
        started_at = utcnow()
        try:
            await task.chain.run(context, self.caller, task.first_call)
            record = run_record(task, context, started_at, RunStatus.OK)
        except StepFailed:
            record = run_record(task, context, started_at, RunStatus.ERROR)
        except asyncio.CancelledError:
            interrupted = run_record(task, context, started_at, RunStatus.CANCELLED, "interrupted before it finished")
            self._store(task, interrupted, context.steps)
            self.progress.advance(interrupted)
            raise
        self._store(task, record, context.steps)
        if self.scorer and record.status == RunStatus.OK:
            self.sink.add_scores(await self.scorer(task, record))
        self.progress.advance(record)

    def _store(self, task: RunTask, record: RunRecord, steps: list[StepRecord]) -> None:
        """Hands the run to the sink before it is scored: a failed or interrupted scoring keeps it."""
        stored_steps = step_records(record.id, steps) if task.kind == "pipeline" else []
        self.sink.add(record, stored_steps, [])
