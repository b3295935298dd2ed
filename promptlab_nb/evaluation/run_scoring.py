"""Scoring runs: plain evaluators are computed at once, judges are sent through the model caller
(cached, limited, retried, their cost kept with the score)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from promptlab_nb.core.errors import InvalidEvaluator, PromptLabError
from promptlab_nb.core.ids import new_id, utcnow
from promptlab_nb.engine.costs import PlannedCall
from promptlab_nb.engine.providers.base import ChatRequest, ModelSpec
from promptlab_nb.engine.run_rows import RunRecord
from promptlab_nb.engine.runner import RunTask
from promptlab_nb.engine.steps import Caller
from promptlab_nb.evaluation.assertions import RunFacts
from promptlab_nb.evaluation.evaluators import EvalResult, Evaluator
from promptlab_nb.evaluation.specs import as_evaluator


def prepare_evaluators(evaluators: Sequence[Any] | None, columns: Sequence[str]) -> list[Evaluator]:
    """Evaluators from objects, spec strings or callables, checked against the data's columns;
    two evaluators with one name are refused (their scores would be confused)."""
    prepared = [as_evaluator(item) for item in evaluators or []]
    names = [evaluator.name for evaluator in prepared]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidEvaluator(
            f"Two evaluators are named {', '.join(map(repr, duplicates))}; give them distinct names with name=..."
        )
    for evaluator in prepared:
        evaluator.validate(columns)
    return prepared


def storable_specs(evaluators: Sequence[Evaluator]) -> list[str]:
    """The names that rebuild the same evaluators later (a resumed experiment scores new runs alike);
    Python callables cannot be stored and are left out."""
    specs = []
    for evaluator in evaluators:
        try:
            if as_evaluator(evaluator.name).name == evaluator.name:
                specs.append(evaluator.name)
        except InvalidEvaluator:
            continue
    return specs


def planned_scoring_calls(
    evaluators: Sequence[Evaluator], row: dict[str, Any], output_chars: int, default_model: str
) -> list[PlannedCall]:
    """The model calls the evaluators make to score one run's output (a judge's grading calls), from each
    evaluator's ``planned_calls``; evaluators without one make none."""
    return [
        call
        for evaluator in evaluators
        if (planned := getattr(evaluator, "planned_calls", None)) is not None
        for call in planned(row, output_chars, default_model)
    ]


class RunScorer:
    def __init__(self, evaluators: Sequence[Evaluator], caller: Caller, default_model: str, experiment_id: str):
        self.evaluators = list(evaluators)
        self.caller = caller
        self.default_model = default_model
        self.experiment_id = experiment_id
        self.at_once = not any(getattr(evaluator, "needs_model", False) for evaluator in self.evaluators)
        """Whether every evaluator scores without a model call, so ``score_at_once`` can score."""
        self._reads_run = any(getattr(evaluator, "reads_run", False) for evaluator in self.evaluators)
        self._apart = [timedelta(microseconds=position) for position in range(len(self.evaluators))]
        """The scores of one run are stored a microsecond apart in their evaluators' order: the order of
        the score columns (``score_columns``) on every backend."""

    async def score(
        self, run_id: str, output: str | None, parsed: Any, row: dict[str, Any], facts: RunFacts | None = None
    ) -> list[dict[str, Any]]:
        """One score per evaluator that applies to ``row``; those that read the run (promptfoo's cost and
        latency, its test verdict) see ``facts`` and the results scored before them."""
        if self.at_once:
            return self._scores(run_id, output, parsed, row, facts, utcnow())
        records = []
        results: dict[str, EvalResult] = {}
        created_at = datetime.min
        for evaluator in self.evaluators:
            if not evaluator.applies(row):
                continue
            if getattr(evaluator, "needs_model", False):
                result, cost = await self._judge(evaluator, output, row)
            else:
                result, cost = _evaluated(evaluator, output, parsed, row, facts, results), None
            results[evaluator.name] = result
            created_at = max(utcnow(), created_at + _MICROSECOND)
            records.append(self._record(run_id, evaluator.name, result, cost, created_at))
        return records

    def _scores(
        self,
        run_id: str,
        output: str | None,
        parsed: Any,
        row: dict[str, Any],
        facts: RunFacts | None,
        created_at: datetime,
    ) -> list[dict[str, Any]]:
        """``score`` when no evaluator calls a model, without a coroutine."""
        records = []
        results: dict[str, EvalResult] = {}
        for evaluator, apart in zip(self.evaluators, self._apart, strict=True):
            if evaluator.applies(row):
                result = results[evaluator.name] = _evaluated(evaluator, output, parsed, row, facts, results)
                records.append(self._record(run_id, evaluator.name, result, None, created_at + apart))
        return records

    async def __call__(self, task: RunTask, record: RunRecord) -> list[dict[str, Any]]:
        return await self.score(record.id, record.output, record.parsed, task.inputs, self._facts(record))

    def score_at_once(self, task: RunTask, record: RunRecord) -> list[dict[str, Any]]:
        """The run's scores without a coroutine, as of the run's end; only when ``at_once``."""
        facts = self._facts(record)
        return self._scores(record.id, record.output, record.parsed, task.inputs, facts, record.finished_at)

    def _facts(self, record: RunRecord) -> RunFacts | None:
        """What evaluators that read the run see; None when none does."""
        return RunFacts(record.latency_ms, record.cost, record.cache_hit) if self._reads_run else None

    async def _judge(self, judge: Any, output: str | None, row: dict[str, Any]) -> tuple[EvalResult, float | None]:
        if output is None:
            return EvalResult(error="the run produced no output to evaluate"), None
        spec = ModelSpec.parse(judge.model or self.default_model)
        cost: float | None = 0.0
        result = EvalResult(error="the judge gave no answer")
        for messages in judge.requests(output, row):
            request = ChatRequest(messages, spec.model, {"temperature": judge.temperature}, judge.response_format)
            try:
                response, cache_hit = await self.caller.call(spec, request, 0, judge.accepts)
            except PromptLabError as error:
                return EvalResult(error=f"the judge call failed: {error}"), cost
            cost = None if cost is None or response.cost is None else cost + (0.0 if cache_hit else response.cost)
            result = judge.parse(response.text)
        return result, cost

    def _record(
        self, run_id: str, name: str, result: EvalResult, cost: float | None, created_at: datetime
    ) -> dict[str, Any]:
        return {
            "id": new_id(),
            "experiment_id": self.experiment_id,
            "run_id": run_id,
            "evaluator": name,
            "value": result.value,
            "passed": result.passed,
            "reason": result.reason,
            "error": result.error,
            "cost": cost,
            "created_at": created_at,
        }


_MICROSECOND = timedelta(microseconds=1)


def _evaluated(
    evaluator: Evaluator,
    output: str | None,
    parsed: Any,
    row: dict[str, Any],
    facts: RunFacts | None,
    results: dict[str, EvalResult],
) -> EvalResult:
    """A plain evaluator's result; one that reads the run sees ``facts`` and the ``results`` scored before it."""
    if getattr(evaluator, "reads_run", False):
        seen = replace(facts or RunFacts(), results=results)
        return evaluator.evaluate_run(output, row, parsed, seen)  # type: ignore[attr-defined]
    return evaluator.evaluate(output, row, parsed)
