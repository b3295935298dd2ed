"""Win rates and rankings of variants, from a pairwise judge or from people's preferences.

A judge is called through the model caller every run uses: each call is answered from the cache
when it can be, limited and retried, and its cost kept with the verdict; the estimate is checked
against the cost limit before the first call. Its verdicts are stored, replacing its earlier
verdicts for the same pairs of variants (a rerun answers from the cache). With ``batch`` its calls
go as provider batches instead (``judge_batches``): nothing is stored until a refresh collects them,
and while they are awaited the judge is not asked again for those pairs.

Each pair of runs (same row, same repeat) is asked in both orders. A pair where one run failed
goes to the other without a call (a failed run scores 0 everywhere else too); a pair where both
failed gets no verdict.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from promptlab_nb.core.config import PromptLab
from promptlab_nb.core.errors import InvalidData, PromptLabError
from promptlab_nb.core.ids import new_id, utcnow
from promptlab_nb.engine.cache import ResponseCache
from promptlab_nb.engine.costs import CostEstimate
from promptlab_nb.engine.providers.base import ModelSpec
from promptlab_nb.engine.providers.registry import ProviderRegistry
from promptlab_nb.engine.steps import Caller
from promptlab_nb.evaluation.pairwise import (
    A_WINS,
    B_WINS,
    PAIRWISE_KIND,
    PairwiseJudge,
    Pick,
    WinRate,
    judged_outcomes,
    orders_agree,
    preference_comparisons,
    preference_outcomes,
    ranking_comparisons,
    verdict,
    win_rate,
)
from promptlab_nb.evaluation.ranking import bradley_terry
from promptlab_nb.schemas.experiment_records import ExperimentRecord, VariantRecord
from promptlab_nb.services.execution import ExecutionOptions, ExperimentExecution
from promptlab_nb.services.experiments import ExperimentService
from promptlab_nb.services.judge_batches import (
    JudgeBatches,
    JudgeCall,
    Judging,
    PendingJudging,
    estimated_cost,
    judge_call,
    pairwise_judge_of,
    uncached_calls,
)
from promptlab_nb.services.preferences import PreferenceService
from promptlab_nb.services.verdicts import RunPair, VerdictService
from promptlab_nb.store.database import Database

VariantPair = tuple[VariantRecord, VariantRecord]


class PairwiseJudging:
    def __init__(self, database: Database, settings: PromptLab):
        self.database, self.settings = database, settings

    async def win_rate(
        self, name: str, a: str, b: str, judge: PairwiseJudge | None, options: ExecutionOptions, batch: bool = False
    ) -> WinRate | PendingJudging:
        """The win rate of variant ``a`` over ``b``: judged by ``judge``, or from people's preferences;
        what is pending while the judge's batches are awaited."""
        if judge is None:
            return win_rate(preference_outcomes(self._preferences(name), a, b), a, b)
        then = f"exp.pairwise({a!r}, {b!r}, judge=...) gives the win rate from the stored verdicts"
        pending = await self._judge_or_submit(name, [(a, b)], judge, options, batch, then)
        if pending is not None:
            return pending
        verdicts = self.verdicts(name, judge.name)
        outcomes = judged_outcomes(verdicts, a, b)
        if outcomes.empty and verdicts["error"].notna().any():
            raise InvalidData(
                f"The judge gave no verdict between {a!r} and {b!r}: {verdicts['error'].dropna().iloc[0]}"
            )
        return win_rate(outcomes, a, b, judge.name)

    async def ranking(
        self,
        name: str,
        variants: Sequence[str],
        judge: PairwiseJudge | None,
        options: ExecutionOptions,
        seed: int | None,
        batch: bool = False,
    ) -> pd.DataFrame | PendingJudging:
        """The Bradley–Terry ranking of ``variants`` (three or more), every pair judged by ``judge`` or
        compared by people; ``attrs`` hold the judge and its position-bias rate. What is pending while
        the judge's batches are awaited."""
        if len(variants) < 3:
            raise InvalidData("A ranking needs three or more variants; for two, use exp.pairwise(a, b).")
        if judge is None:
            comparisons, bias = preference_comparisons(self._preferences(name)), float("nan")
        else:
            then = "exp.ranking(judge=...) ranks the variants from the stored verdicts"
            pairs = list(itertools.combinations(variants, 2))
            pending = await self._judge_or_submit(name, pairs, judge, options, batch, then)
            if pending is not None:
                return pending
            verdicts = self.verdicts(name, judge.name)
            verdicts = verdicts[verdicts["variant_a"].isin(variants) & verdicts["variant_b"].isin(variants)]
            comparisons, bias = ranking_comparisons(verdicts), _bias_rate(verdicts)
        if comparisons.empty:
            raise InvalidData("No comparisons to rank yet: give a judge, or pick the better outputs in the widget.")
        table = bradley_terry(comparisons, variants, seed=seed)
        table.attrs.update(judge=judge.name if judge else None, bias_rate=bias)
        return table

    def verdicts(self, name: str, judge: str | None = None) -> pd.DataFrame:
        """The stored verdicts of the experiment ``name`` (of the judge named ``judge``)."""
        with self.database.session() as session:
            experiment = ExperimentService(session).get(name)
            return VerdictService(session).frame(experiment.id, judge)

    def _preferences(self, name: str) -> pd.DataFrame:
        with self.database.session() as session:
            experiment = ExperimentService(session).get(name)
            return PreferenceService(session).frame(experiment.id)

    async def _judge_or_submit(
        self,
        name: str,
        labels: Sequence[tuple[str, str]],
        judge: PairwiseJudge,
        options: ExecutionOptions,
        batch: bool,
        then: str,
    ) -> PendingJudging | None:
        """Judge the pairs of variants ``labels`` live, or send the requests the cache cannot answer as
        provider batches (returning what is pending); while batches of ``judge`` for these pairs are
        awaited, only report them."""
        batches = JudgeBatches(self.database, self.settings)
        with self.database.session() as session:
            experiment = ExperimentService(session).get(name)
        asked = {frozenset(pair) for pair in labels}
        waiting = [
            pending
            for pending in batches.pending(experiment.id, judge.name, PAIRWISE_KIND)
            if asked & {frozenset(pair) for pair in (pending.judging or {})["pairs"]}
        ]
        if waiting:
            return batches.pending_report(waiting, then)
        if batch:
            judging = {"job": new_id(), "judge": judge.definition(), "pairs": [list(pair) for pair in labels]}
            pending = await batches.submit(experiment, judging, self.calls(experiment, judging), options, then)
            if pending is not None:
                return pending
        await self.judge(name, labels, judge, options)
        return None

    async def judge(
        self, name: str, labels: Sequence[tuple[str, str]], judge: PairwiseJudge, options: ExecutionOptions
    ) -> int:
        """Judge every pair of runs of each pair of variants in ``labels`` and store the verdicts,
        replacing ``judge``'s earlier ones for those pairs. Returns the provider calls made."""
        execution = ExperimentExecution(self.database, self.settings)
        registry = ProviderRegistry(self.settings.providers)
        spec = ModelSpec.parse(judge.model or self.settings.default_model)
        with self.database.session() as session:
            experiment = ExperimentService(session).get(name)
        work = self._work(experiment, labels)
        registry.get(spec.provider).check_configured()
        cache = ResponseCache(self.database, enabled=options.cache)
        execution.check_cost(self._estimate(spec, judge, work, cache, registry), options.confirm)
        caller = execution.caller(options, registry, cache)
        workers = options.concurrency or self.settings.concurrency
        try:
            write = await self._verdicts_of(caller, spec, judge, experiment, work, workers)
        finally:
            await registry.aclose()
            self._keep_answers(cache)
        with self.database.session() as session:
            write(session)
        return caller.calls

    def calls(self, experiment: ExperimentRecord, judging: Judging) -> list[JudgeCall]:
        """The requests of a batch job: both orders of every pair of successful runs."""
        judge = pairwise_judge_of(judging)
        spec = ModelSpec.parse(judge.model or self.settings.default_model)
        return _calls_of(spec, judge, self._work(experiment, _labels(judging)))

    async def judged(self, experiment: ExperimentRecord, judging: Judging, caller: Caller) -> Callable[[Session], int]:
        """The verdicts of a batch job, its answers given by ``caller``, as a write storing them."""
        judge = pairwise_judge_of(judging)
        spec = ModelSpec.parse(judge.model or self.settings.default_model)
        work = self._work(experiment, _labels(judging))
        return await self._verdicts_of(caller, spec, judge, experiment, work, self.settings.concurrency)

    def _work(
        self, experiment: ExperimentRecord, labels: Sequence[tuple[str, str]]
    ) -> list[tuple[VariantPair, list[RunPair]]]:
        with self.database.session() as session:
            verdicts = VerdictService(session)
            return [(pair, verdicts.pairs(experiment.id, *pair)) for pair in _variants(experiment, labels)]

    async def _verdicts_of(
        self,
        caller: Caller,
        spec: ModelSpec,
        judge: PairwiseJudge,
        experiment: ExperimentRecord,
        work: list[tuple[VariantPair, list[RunPair]]],
        workers: int,
    ) -> Callable[[Session], int]:
        judged = [await self._judge_pairs(caller, spec, judge, experiment, pair, runs, workers) for pair, runs in work]

        def write(session: Session) -> int:
            for ((a, b), _), records in zip(work, judged, strict=True):
                VerdictService(session).replace(experiment.id, judge.name, a, b, records)
            return sum(len(records) for records in judged)

        return write

    def _keep_answers(self, cache: ResponseCache) -> None:
        """Store the judge's answers in the cache, also when judging was interrupted: asking again
        then costs nothing for the pairs already answered."""
        with self.database.session() as session:
            ResponseCache.write(session.connection(), cache.take_pending())

    @staticmethod
    def _estimate(
        spec: ModelSpec,
        judge: PairwiseJudge,
        work: list[tuple[VariantPair, list[RunPair]]],
        cache: ResponseCache,
        registry: ProviderRegistry,
    ) -> CostEstimate:
        """The calls the cache cannot answer (the same request once) and their cost."""
        calls = list({call.key: call for call in _calls_of(spec, judge, work)}.values())
        to_call = uncached_calls(calls, cache, registry)
        estimate = estimated_cost(to_call, registry)
        estimate.cached = len(calls) - len(to_call)
        return estimate

    async def _judge_pairs(
        self,
        caller: Caller,
        spec: ModelSpec,
        judge: PairwiseJudge,
        experiment: ExperimentRecord,
        variants: VariantPair,
        pairs: list[RunPair],
        workers: int,
    ) -> list[dict[str, Any]]:
        limit = asyncio.Semaphore(workers)

        async def judged(pair: RunPair) -> dict[str, Any] | None:
            async with limit:
                return await _judge_pair(caller, spec, judge, pair)

        base = {"experiment_id": experiment.id, "judge": judge.name}
        variant_ids = {"variant_a_id": variants[0].id, "variant_b_id": variants[1].id}
        records = await asyncio.gather(*(judged(pair) for pair in pairs))
        return [
            {"id": new_id(), **base, **variant_ids, **record, "created_at": utcnow()}
            for record in records
            if record is not None
        ]


async def _judge_pair(caller: Caller, spec: ModelSpec, judge: PairwiseJudge, pair: RunPair) -> dict[str, Any] | None:
    a, b = pair.run_a, pair.run_b
    base = {"row_index": pair.row_index, "run_a_id": a["id"], "run_b_id": b["id"], "a_first": None, "b_first": None}
    if not (a["ok"] and b["ok"]):
        if not (a["ok"] or b["ok"]):
            return None
        winner = a if a["ok"] else b
        return {**base, "winner_run_id": winner["id"], "reason": "the other run failed", "error": None, "cost": 0.0}
    (a_first, a_cost), (b_first, b_cost) = await asyncio.gather(
        *(_ask(caller, spec, judge, first, second, pair.inputs) for first, second in _both_orders(pair))
    )
    cost = None if a_cost is None or b_cost is None else a_cost + b_cost
    if a_first.pick is None or b_first.pick is None:
        error = a_first.error or b_first.error
        return {**base, "winner_run_id": None, "reason": None, "error": error, "cost": cost}
    outcome = verdict(a_first.pick, b_first.pick)
    winner_id = {A_WINS: a["id"], B_WINS: b["id"]}.get(outcome)
    return {
        **base,
        "a_first": a_first.pick,
        "b_first": b_first.pick,
        "winner_run_id": winner_id,
        "reason": a_first.reason,
        "error": None,
        "cost": cost,
    }


def _calls_of(spec: ModelSpec, judge: PairwiseJudge, work: list[tuple[VariantPair, list[RunPair]]]) -> list[JudgeCall]:
    """Both orders of every pair of successful runs."""
    return [
        judge_call(spec, judge.request(first, second, pair.inputs), judge)
        for _, pairs in work
        for pair in pairs
        if pair.run_a["ok"] and pair.run_b["ok"]
        for first, second in _both_orders(pair)
    ]


def _both_orders(pair: RunPair) -> tuple[tuple[str, str], tuple[str, str]]:
    """The two outputs with run a's shown first, then with run b's shown first."""
    a, b = pair.run_a["output"] or "", pair.run_b["output"] or ""
    return (a, b), (b, a)


async def _ask(
    caller: Caller, spec: ModelSpec, judge: PairwiseJudge, first: str, second: str, inputs: dict[str, Any]
) -> tuple[Pick, float | None]:
    call = judge_call(spec, judge.request(first, second, inputs), judge)
    try:
        response, cache_hit = await caller.call(spec, call.request, 0, judge.accepts)
    except PromptLabError as error:
        return Pick(error=f"the judge call failed: {error}"), 0.0
    cost = 0.0 if cache_hit else response.cost
    return judge.parse(response.text), cost


def _bias_rate(verdicts: pd.DataFrame) -> float:
    """The share of verdicts asked in both orders whose two orders disagreed."""
    asked = verdicts[verdicts["a_first"].notna() & verdicts["b_first"].notna()]
    disagreed = [
        not orders_agree(first, second) for first, second in zip(asked["a_first"], asked["b_first"], strict=True)
    ]
    return float(sum(disagreed) / len(disagreed)) if disagreed else float("nan")


def _labels(judging: Judging) -> list[tuple[str, str]]:
    return [(a, b) for a, b in judging["pairs"]]


def _variants(experiment: ExperimentRecord, labels: Sequence[tuple[str, str]]) -> list[VariantPair]:
    by_label = {variant.label: variant for variant in experiment.variants}
    return [(by_label[a], by_label[b]) for a, b in labels]
