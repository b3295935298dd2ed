"""A judge's requests sent as provider batches, at batch prices: the single-output judge scoring the
stored runs (``exp.evaluate(judge, batch=True)``) and the pairwise judge (``exp.pairwise(a, b,
judge=..., batch=True)``, ``exp.ranking``).

One submit is one job. Its batches are recorded before they are sent, with the judge's definition
and what it judges (``judging``), as a run's are, so a batch accepted while the kernel died is found
again; requests the cache answers are not sent. Once every batch of a job has finished, a refresh
stores the job's verdicts or scores at once, in the unit of work that marks its batches collected
and caches the answers: asking the judge again live then costs nothing.

A batch experiment's own judges (its evaluators) still score each run live when its batch is
collected: runs are stored with their scores, and a second batch would keep the experiment waiting
as long again. ``exp.evaluate(judge, batch=True)`` scores them at batch prices afterwards.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from promptlab_nb.core.config import PromptLab
from promptlab_nb.core.errors import BatchNotSupported, ProviderError
from promptlab_nb.core.ids import new_id
from promptlab_nb.engine.batch_answers import BatchAnswers, judge_custom_id, response_of, split_lines
from promptlab_nb.engine.cache import ResponseCache, cache_key
from promptlab_nb.engine.costs import CostEstimate, PlannedCall
from promptlab_nb.engine.providers.base import ChatRequest, ChatResponse, Message, ModelSpec, Provider
from promptlab_nb.engine.providers.registry import ProviderRegistry
from promptlab_nb.engine.steps import Caller
from promptlab_nb.evaluation.evaluators import Evaluator
from promptlab_nb.evaluation.judge import JUDGE_KIND, Judge, judge
from promptlab_nb.evaluation.pairwise import PairwiseJudge, pairwise
from promptlab_nb.evaluation.run_scoring import RunScorer
from promptlab_nb.schemas.experiment_records import ExperimentRecord
from promptlab_nb.services.execution import ExecutionOptions, ExperimentExecution
from promptlab_nb.services.experiments import ExperimentService, claimed
from promptlab_nb.services.provider_batches import BatchService, FinishedBatch, StoredBatch
from promptlab_nb.services.scores import ScoreService
from promptlab_nb.store.database import Database

Judging = dict[str, Any]


@dataclass(frozen=True, slots=True)
class JudgeCall:
    """One request of a judge to its model."""

    spec: ModelSpec
    request: ChatRequest

    @property
    def key(self) -> str:
        """The cache key without a server, as batch answers are keyed."""
        return cache_key(self.spec, self.request, 0)

    @property
    def custom_id(self) -> str:
        return judge_custom_id(self.key)


def judge_call(spec: ModelSpec, messages: list[Message], asking: Judge | PairwiseJudge) -> JudgeCall:
    """The request a judge sends, as its live calls send it (so both share cache entries)."""
    return JudgeCall(
        spec, ChatRequest(messages, spec.model, {"temperature": asking.temperature}, asking.response_format)
    )


def pairwise_judge_of(judging: Judging) -> PairwiseJudge:
    """The pairwise judge a batch's ``judging`` names, rebuilt (also in another session)."""
    definition = judging["judge"]
    return pairwise(definition["rubric"], definition["model"], name=definition["name"])


def score_judge_of(judging: Judging) -> Judge:
    """The single-output judge a batch's ``judging`` names, rebuilt (also in another session)."""
    definition = judging["judge"]
    return judge(definition["rubric"], definition["model"], threshold=definition["threshold"], name=definition["name"])


@dataclass(frozen=True)
class PendingJudging:
    """Judge requests sent as provider batches and not answered yet; nothing of them is stored until
    ``exp.refresh()`` finds their batches finished and stores the verdicts or scores, all at once."""

    judges: tuple[str, ...]
    requests: int
    batches: int
    then: str
    cached: int = 0
    estimate: CostEstimate | None = None

    def __repr__(self) -> str:
        names = ", ".join(map(repr, self.judges))
        cost = f" (est. ${self.estimate.cost:.4f} at batch prices)" if self.estimate else ""
        cached = f", {self.cached} answered by the cache" if self.cached else ""
        return (
            f"<judge {names}: {self.requests} requests pending in {self.batches} provider batch(es){cost}{cached}. "
            f"Nothing is stored until exp.refresh() finds them finished; then {self.then}.>"
        )


def merged(pending: Sequence[PendingJudging]) -> PendingJudging | None:
    """One report of several judges' pending requests; None when none is pending."""
    if not pending:
        return None
    estimates = [report.estimate for report in pending if report.estimate is not None]
    estimate = None
    if estimates:
        estimate = CostEstimate()
        for part in estimates:
            estimate.calls, estimate.cost = estimate.calls + part.calls, estimate.cost + part.cost
    return PendingJudging(
        tuple(name for report in pending for name in report.judges),
        sum(report.requests for report in pending),
        sum(report.batches for report in pending),
        pending[0].then,
        sum(report.cached for report in pending),
        estimate,
    )


class JudgedJob(Protocol):
    """What a kind of judge job does with its batches: the requests it sends, and, once they are
    answered, the verdicts or scores to store (a write returning how many it stored)."""

    def calls(self, experiment: ExperimentRecord, judging: Judging) -> list[JudgeCall]: ...

    async def judged(
        self, experiment: ExperimentRecord, judging: Judging, caller: Caller
    ) -> Callable[[Session], int]: ...


class JudgeBatches:
    def __init__(self, database: Database, settings: PromptLab):
        self.database, self.settings = database, settings

    def pending(self, experiment_id: str, judge_name: str, kind: str) -> list[StoredBatch]:
        """The batches of the judge ``judge_name`` (of ``kind``) whose answers are not stored yet."""
        with self.database.session() as session:
            batches = BatchService(session).uncollected(experiment_id)
        return [
            batch
            for batch in batches
            if batch.judging and batch.judge == judge_name and batch.judging["judge"]["kind"] == kind
        ]

    @staticmethod
    def pending_report(batches: list[StoredBatch], then: str) -> PendingJudging:
        judges = tuple(dict.fromkeys(batch.judge for batch in batches if batch.judge))
        return PendingJudging(judges, sum(len(batch.custom_ids) for batch in batches), len(batches), then)

    async def submit(
        self,
        experiment: ExperimentRecord,
        judging: Judging,
        calls: list[JudgeCall],
        options: ExecutionOptions,
        then: str,
    ) -> PendingJudging | None:
        """Send ``calls`` the cache cannot answer as provider batches of one job, each recorded first,
        after the cost guard (at batch prices); None when the cache answers them all (judge live, for free).
        A batch the provider refuses is recorded as failed and its reason raised."""
        registry = ProviderRegistry(self.settings.providers)
        cache = ResponseCache(self.database, enabled=options.cache)
        try:
            unique = list({call.key: call for call in calls}.values())
            to_send = uncached_calls(unique, cache, registry)
            if not to_send:
                return None
            groups = _grouped_by_model(to_send, registry)
            estimate = estimated_cost(to_send, registry, batch=True)
            estimate.cached = len(unique) - len(to_send)
            ExperimentExecution(self.database, self.settings).check_cost(estimate, options.confirm)
            with claimed(self.database, experiment.id, self.settings.claim_stale_after):
                batches = 0
                for (provider_name, model), group in groups.items():
                    batches += await self._submit_group(experiment, registry.get(provider_name), model, group, judging)
        finally:
            await registry.aclose()
        return PendingJudging((judging["judge"]["name"],), len(to_send), batches, then, estimate.cached, estimate)

    async def _submit_group(
        self, experiment: ExperimentRecord, provider: Provider, model: str, calls: list[JudgeCall], judging: Judging
    ) -> int:
        if provider.batch_limits is None:
            raise BatchNotSupported(provider.name)
        lines = [provider.batch_line(call.custom_id, call.request) for call in calls]
        submitted = 0
        for group in split_lines(lines, provider.batch_limits):
            custom_ids = [line["custom_id"] for line in group]
            with self.database.session() as session:
                intent = BatchService(session).record_intent(experiment.id, provider.name, model, custom_ids, judging)
            try:
                state = await provider.submit_batch(model, group, intent.intent())
            except ProviderError as error:
                with self.database.connection() as connection:
                    BatchService.mark_refused(connection, intent.id, str(error))
                raise
            with self.database.session() as session:
                BatchService(session).confirm(intent.id, state)
            submitted += 1
        return submitted

    async def collect(
        self,
        experiment: ExperimentRecord,
        done: list[FinishedBatch],
        registry: ProviderRegistry,
        jobs: dict[str, JudgedJob],
    ) -> int:
        """Store what one job's finished batches answered, mark them collected and cache the answers,
        in one unit of work. Returns the verdicts or scores stored."""
        judging = done[0].batch.judging or {}
        job = jobs[judging["judge"]["kind"]]
        cache = ResponseCache(self.database)
        calls = job.calls(experiment, judging)
        caller = BatchAnswers(_answers(calls, done, registry), cache, registry, sent_once=True)
        write = await job.judged(experiment, judging, caller)
        with self.database.session() as session:
            stored = write(session)
            BatchService.mark_collected(session.connection(), [finished.batch.id for finished in done])
            ResponseCache.write(session.connection(), cache.take_pending())
        return stored


class ScoreJudging:
    """A single-output judge's job: score every successful run of the experiment."""

    def __init__(self, database: Database, settings: PromptLab):
        self.database, self.settings = database, settings

    async def evaluate(
        self, name: str, evaluators: Sequence[Evaluator], options: ExecutionOptions, batch: bool = False
    ) -> PendingJudging | None:
        """Score the stored runs with ``evaluators``; with ``batch`` each judge's requests the cache cannot
        answer go as provider batches, the rest score at once. A judge whose batches are awaited is not
        asked again. Returns what is pending, None when every score is stored."""
        with self.database.session() as session:
            experiment = ExperimentService(session).get(name)
        batches = JudgeBatches(self.database, self.settings)
        then = "the scores show in exp.runs and exp.summary()"
        pending, at_once = [], []
        for evaluator in evaluators:
            waiting = batches.pending(experiment.id, evaluator.name, JUDGE_KIND) if isinstance(evaluator, Judge) else []
            report = batches.pending_report(waiting, then) if waiting else None
            if report is None and batch and isinstance(evaluator, Judge):
                judging = {"job": new_id(), "judge": evaluator.definition()}
                report = await batches.submit(experiment, judging, self.calls(experiment, judging), options, then)
            if report is None:
                at_once.append(evaluator)
            else:
                pending.append(report)
        if at_once:
            await ExperimentExecution(self.database, self.settings).evaluate(name, at_once, options)
        return merged(pending)

    def calls(self, experiment: ExperimentRecord, judging: Judging) -> list[JudgeCall]:
        grader = score_judge_of(judging)
        spec = ModelSpec.parse(grader.model or self.settings.default_model)
        return [
            judge_call(spec, messages, grader)
            for run in self._runs(experiment)
            if run["output"] is not None and grader.applies(run["inputs"])
            for messages in grader.requests(run["output"], run["inputs"])
        ]

    async def judged(self, experiment: ExperimentRecord, judging: Judging, caller: Caller) -> Callable[[Session], int]:
        grader = score_judge_of(judging)
        runs = self._runs(experiment)
        scorer = RunScorer([grader], caller, self.settings.default_model, experiment.id)
        scored = await asyncio.gather(
            *(scorer.score(run["id"], run["output"], run["parsed"], run["inputs"], run["facts"]) for run in runs)
        )
        records = [record for records in scored for record in records]

        def write(session: Session) -> int:
            ScoreService(session).replace(experiment.id, [grader.name], records)
            return len(records)

        return write

    def _runs(self, experiment: ExperimentRecord) -> list[dict[str, Any]]:
        with self.database.session() as session:
            return ScoreService(session).finished_runs(experiment.id)


def uncached_calls(calls: list[JudgeCall], cache: ResponseCache, registry: ProviderRegistry) -> list[JudgeCall]:
    """The calls the cache cannot answer."""
    at_server = {call.key: _server_key(call, registry) for call in calls}
    cache.prefetch(at_server.values())
    return [call for call in calls if not cache.has(at_server[call.key])]


def _server_key(call: JudgeCall, registry: ProviderRegistry) -> str:
    return cache_key(call.spec, call.request, 0, registry.get(call.spec.provider).endpoint)


def _grouped_by_model(calls: list[JudgeCall], registry: ProviderRegistry) -> dict[tuple[str, str], list[JudgeCall]]:
    """Calls per (provider, model); refused before anything is sent when a provider is not configured
    or has no batch API."""
    groups: dict[tuple[str, str], list[JudgeCall]] = defaultdict(list)
    for call in calls:
        groups[(call.spec.provider, call.spec.model)].append(call)
    for provider_name, _ in groups:
        provider = registry.get(provider_name)
        provider.check_configured()
        if provider.batch_limits is None:
            raise BatchNotSupported(provider_name)
    return dict(groups)


def estimated_cost(calls: list[JudgeCall], registry: ProviderRegistry, *, batch: bool = False) -> CostEstimate:
    """The calls and their estimated cost, at batch prices with ``batch``."""
    estimate = CostEstimate()
    for call in calls:
        input_chars = sum(len(message["content"]) for message in call.request.messages)
        estimate.add(PlannedCall(call.spec, input_chars), registry.get(call.spec.provider), batch=batch)
    return estimate


def _answers(
    calls: list[JudgeCall], done: list[FinishedBatch], registry: ProviderRegistry
) -> dict[str, ChatResponse | ProviderError]:
    """Each call's answer by its key, at the batch price; calls no batch holds were cached when sent."""
    holding = {custom_id: finished for finished in done for custom_id in finished.batch.custom_ids}
    answers: dict[str, ChatResponse | ProviderError] = {}
    for call in calls:
        finished = holding.get(call.custom_id)
        if finished is None:
            continue
        provider = registry.get(finished.batch.provider)
        try:
            answer: ChatResponse | ProviderError = response_of(
                finished.outcome_of(call.custom_id),
                call.request,
                provider.batch_price(finished.batch.model),
                provider.name,
            )
        except ProviderError as error:
            answer = error
        answers[call.key] = answer
    return answers
