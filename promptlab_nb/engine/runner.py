"""The async runner: executes run tasks with bounded concurrency, writes finished runs in bulk,
and on cancellation records what was in flight as cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from promptlab_nb.core.ids import new_id, utcnow
from promptlab_nb.core.vocabulary import ExperimentStatus, Mode, RunStatus
from promptlab_nb.engine.progress import Progress
from promptlab_nb.engine.run_rows import RunRecord
from promptlab_nb.engine.sink import RunSink
from promptlab_nb.engine.steps import Caller, RunContext, StepChain, StepFailed, StepRecord

ScoreRun = Callable[["RunTask", "RunRecord"], Awaitable[list[dict[str, Any]]]]


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


def _total(values: list[Any]) -> Any:
    return None if not values or any(value is None for value in values) else sum(values)


def run_record(
    task: RunTask, context: RunContext, started_at: datetime, status: RunStatus, error: str | None = None
) -> RunRecord:
    steps = context.steps
    last = steps[-1] if steps else None
    failed = next((step for step in steps if step.status != RunStatus.OK), None)
    succeeded = status == RunStatus.OK
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
        latency_ms=_total([step.latency_ms for step in steps]),
        input_tokens=_total([step.input_tokens for step in steps]),
        output_tokens=_total([step.output_tokens for step in steps]),
        cost=_total([step.cost for step in steps]),
        cache_hit=bool(steps) and all(step.cache_hit for step in steps),
        request_id=last.request_id if last else None,
        started_at=started_at,
        finished_at=utcnow(),
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
        for task in pending:
            await self._run_one(task)
            await self.sink.maybe_flush()

    async def _run_one(self, task: RunTask) -> None:
        context = RunContext(variables=dict(task.inputs), repeat=task.repeat)
        started_at = utcnow()
        try:
            await task.chain.run(context, self.caller)
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
