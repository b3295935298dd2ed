"""Improving a template automatically, with proof.

The data splits (seeded, stratified by ``expected`` when the data has it) into a tuning set and a
holdout set. Round 0 runs the template on the tuning set. Each round then shows the optimizer model
the current best template with the rows it failed (outputs and the evaluators' reasons), through the
stored meta-prompt template ``promptlab-optimizer`` that the user may edit, once per candidate; every
rewrite becomes a template and runs as a variant of one experiment beside the current best. The best
candidate on the tuning set finally faces the original on the holdout set in a paired comparison, and
becomes a new version of the template only when that difference is positive with a 95% CI above zero.

Every step is a stored experiment named after the optimisation (``NAME-r0``, ``NAME-r1-proposals``,
``NAME-r1``, ..., ``NAME-holdout``); the first keeps the optimisation's plan in its settings. A step
already stored is reused and one not finished runs what it misses, so ``resume()`` after an interrupt
or a budget stop goes on from the last round. The service takes the Database, as execution does: an
optimisation runs for minutes and holds the store only for each short read or write.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from promptlab_nb.core import errors
from promptlab_nb.core.config import PromptLab
from promptlab_nb.core.vocabulary import ExperimentStatus
from promptlab_nb.engine.cache import ResponseCache
from promptlab_nb.engine.costs import CostEstimate, PlannedCall, expected_output_chars
from promptlab_nb.engine.loop import blocking
from promptlab_nb.engine.providers.base import ModelSpec
from promptlab_nb.engine.providers.registry import ProviderRegistry
from promptlab_nb.engine.templating import compile_template
from promptlab_nb.evaluation.analysis import score_range
from promptlab_nb.evaluation.evaluators import Evaluator
from promptlab_nb.evaluation.run_scoring import planned_scoring_calls, storable_specs
from promptlab_nb.evaluation.specs import as_evaluator
from promptlab_nb.evaluation.statistics import PairedComparison, paired_difference, summarize
from promptlab_nb.schemas.definitions import Template
from promptlab_nb.services.baselines import DATA_HASH, data_fingerprint
from promptlab_nb.services.execution import ExecutionOptions, ExperimentExecution
from promptlab_nb.services.experiments import ExperimentService
from promptlab_nb.services.optimization_rounds import (
    MAX_FAILURES,
    CandidateScore,
    OptimizationPlan,
    OptimizationResult,
    RoundReport,
    candidate_name,
    holdout_step,
    objective_scores,
    proposals_step,
    rewrite_text,
    split_rows,
    step_name,
    step_names,
    text_diff,
    unusable_reason,
)
from promptlab_nb.services.planning import ExperimentPlanner
from promptlab_nb.services.results import runs_frame
from promptlab_nb.services.templates import TemplateService
from promptlab_nb.store.database import Database
from promptlab_nb.store.models import Run, Score, StoredExperiment, StoredTemplate, Variant

META_TEMPLATE = "promptlab-optimizer"
META_BODY = """\
system:
You improve prompt templates. A template is Jinja text: keep every {{ '{{ variable }}' }} it uses, and keep
its role lines (system:, user:) when it has them. Answer with the whole improved template and nothing
else: no explanation, no code fence.
user:
Proposal {{ attempt }} of {{ candidates }}: improve this template.

{{ template }}

It failed on these rows (their data, its answer, and why it failed):

{{ failures }}
"""
PLAN_KEY = "optimization"
Report = Callable[[str], Any]


class _BudgetReached(Exception):
    pass


class Optimizer:
    def __init__(self, database: Database, settings: PromptLab):
        self.database, self.settings = database, settings

    def start(
        self,
        template: str,
        rows: list[dict[str, Any]],
        evaluators: Sequence[Evaluator],
        *,
        optimizer_model: str,
        rounds: int,
        candidates: int,
        holdout: float,
        budget: float | None,
        seed: int,
        name: str | None,
        confirm: bool,
    ) -> tuple[str, CostEstimate]:
        """Check the request, estimate the whole optimisation (refused above the cost limit unless
        confirmed) and store its first experiment with the plan. Returns its name and the estimate."""
        if not evaluators:
            raise errors.InvalidData(
                "Optimising needs evaluators to score the candidates, e.g. evaluators=['equals:expected']."
            )
        ModelSpec.parse(optimizer_model)
        tuning, held_out = split_rows(rows, holdout, seed)
        with self.database.session() as session:
            original = TemplateService(session, self.settings).get(template)
            meta = self._meta_template(session)
            estimate = self._estimate(original, meta, tuning, held_out, evaluators, optimizer_model, rounds, candidates)
            ExperimentExecution(self.database, self.settings).check_cost(estimate, confirm)
            name = (
                self._free_name(session, name) if name else self._free_name(session, f"optimize-{template}", suffix=2)
            )
            plan = OptimizationPlan(
                template=original.name,
                version=original.version,
                evaluators=storable_specs(evaluators),
                optimizer_model=optimizer_model,
                meta_template=meta.ref,
                rounds=rounds,
                candidates=candidates,
                holdout_rows=held_out,
                budget=budget,
            )
            self.store(session, step_name(name, 0), [plan.original], tuning, evaluators, {PLAN_KEY: asdict(plan)})
        return name, estimate

    def _meta_template(self, session: Session) -> Template:
        """The meta-prompt, created on first use; the user's edits to it are kept."""
        templates = TemplateService(session, self.settings)
        try:
            return templates.get(META_TEMPLATE)
        except errors.TemplateNotFound:
            return templates.save(
                META_TEMPLATE, META_BODY, description="The prompt that asks an optimizer model for a better template"
            )

    def store(
        self,
        session: Session,
        name: str,
        targets: list[str],
        rows: list[dict[str, Any]],
        evaluators: Sequence[Evaluator],
        extra: dict[str, Any] | None = None,
        model: str | None = None,
    ) -> None:
        """Plan and store one step as ``lab.plan`` stores an experiment."""
        planner = ExperimentPlanner(session, self.settings.default_model)
        variants, steps = planner.variants(targets, [model] if model else [], [])
        planner.check_data(variants, steps, rows)
        settings = {
            "pipeline_steps": steps,
            "evaluators": storable_specs(evaluators),
            DATA_HASH: data_fingerprint(rows),
            **(extra or {}),
        }
        ExperimentService(session).create(name, variants, rows, 1, settings)

    @staticmethod
    def _free_name(session: Session, base: str, suffix: int | None = None) -> str:
        """``base`` when no optimisation has it; else, with a first ``suffix``, ``base-2``, ``base-3``...
        and without one ``ExperimentNameTaken``."""
        taken = set(session.scalars(select(StoredExperiment.name).where(StoredExperiment.name.like(f"{base}%"))))
        name = base
        while step_name(name, 0) in taken:
            if suffix is None:
                raise errors.OptimizationNameTaken(name)
            name, suffix = f"{base}-{suffix}", suffix + 1
        return name

    def _estimate(
        self,
        original: Template,
        meta: Template,
        tuning: list[dict[str, Any]],
        held_out: list[dict[str, Any]],
        evaluators: Sequence[Evaluator],
        optimizer_model: str,
        rounds: int,
        candidates: int,
    ) -> CostEstimate:
        """About what the whole optimisation costs if it runs every round: the tuning set once plus once per
        candidate and round (candidates assumed as long as the original), the proposals, and the holdout twice."""
        registry = ProviderRegistry(self.settings.providers)
        total = CostEstimate()
        tuning_pass = self._pass_estimate(original, tuning, evaluators, registry)
        _add(total, tuning_pass, 1 + rounds * (candidates + 1))
        _add(total, self._pass_estimate(original, held_out, evaluators, registry), 2)
        _add(total, self._proposal_estimate(original, meta, tuning, optimizer_model, registry), rounds * candidates)
        return total

    def _pass_estimate(
        self,
        template: Template,
        rows: list[dict[str, Any]],
        evaluators: Sequence[Evaluator],
        registry: ProviderRegistry,
    ) -> CostEstimate:
        compiled = compile_template(template.body, template.name)
        spec = ModelSpec.parse(template.model or self.settings.default_model)
        max_tokens = template.params.get("max_tokens")
        estimate = CostEstimate()
        for row in rows:
            try:
                prompt_chars = sum(len(message["content"]) for message in compiled.render(row))
            except errors.PromptLabError:
                continue
            estimate.add(PlannedCall(spec, prompt_chars, max_tokens), registry.get(spec.provider))
            output_chars = expected_output_chars(max_tokens)
            for call in planned_scoring_calls(evaluators, row, output_chars, self.settings.default_model):
                estimate.add(call, registry.get(call.spec.provider))
        return estimate

    @staticmethod
    def _proposal_estimate(
        original: Template, meta: Template, rows: list[dict[str, Any]], model: str, registry: ProviderRegistry
    ) -> CostEstimate:
        """One proposal: the meta-prompt with the template and up to ``MAX_FAILURES`` failed rows and answers."""
        row_chars = max(len(json.dumps(row, default=str)) for row in rows)
        failure_chars = min(len(rows), MAX_FAILURES) * (
            row_chars + expected_output_chars(original.params.get("max_tokens"))
        )
        spec = ModelSpec.parse(model)
        estimate = CostEstimate()
        call = PlannedCall(spec, len(meta.body) + len(original.body) + failure_chars, meta.params.get("max_tokens"))
        estimate.add(call, registry.get(spec.provider))
        return estimate

    def plan(self, name: str) -> OptimizationPlan:
        """The plan stored with the optimisation's first experiment."""
        with self.database.session() as session:
            try:
                record = ExperimentService(session).get(step_name(name, 0))
            except errors.ExperimentNotFound:
                raise errors.OptimizationNotFound(name) from None
        if PLAN_KEY not in record.settings:
            raise errors.OptimizationNotFound(name)
        return OptimizationPlan(**record.settings[PLAN_KEY])

    async def run(
        self,
        name: str,
        evaluators: Sequence[Evaluator],
        options: ExecutionOptions,
        report: Report,
        budget: float | None = None,
    ) -> OptimizationResult:
        """Run (or go on with) the optimisation ``name``: every round not finished, then the holdout test."""
        plan = self.plan(name)
        evaluators = list(evaluators) or _stored_evaluators(plan)
        result = OptimizationResult(name, plan.template, plan.version)
        guard = _Budget(self, name, plan, plan.budget if budget is None else budget)
        steps = _Steps(self, name, plan, evaluators, options, guard)
        try:
            await steps.complete(step_name(name, 0), evaluators)
            await steps.rounds(result, report)
            await steps.prove(result)
        except _BudgetReached as stop:
            result.stopped_at_budget, result.message = True, str(stop)
        result.spent = guard.spent()
        report(result.message)
        return result

    def spent(self, names: Sequence[str]) -> float:
        """What the runs of these experiments cost, their judges' scoring included."""
        with self.database.session() as session:
            runs = select(func.coalesce(func.sum(Run.cost), 0.0)).where(Run.experiment_id.in_(_ids(names)))
            scores = select(func.coalesce(func.sum(Score.cost), 0.0)).where(Score.experiment_id.in_(_ids(names)))
            return float(session.scalar(runs) or 0.0) + float(session.scalar(scores) or 0.0)

    def estimate_missing(self, name: str, evaluators: Sequence[Evaluator], options: ExecutionOptions) -> CostEstimate:
        """What the runs ``name`` still misses will cost, as its execution estimates it."""
        execution = ExperimentExecution(self.database, self.settings)
        _, tasks = execution.missing_tasks(name)
        registry = ProviderRegistry(self.settings.providers)
        with self.database.session() as session:
            return execution.estimate(
                tasks, ResponseCache(self.database, enabled=options.cache), registry, session, evaluators
            )

    def runs(self, name: str) -> pd.DataFrame:
        with self.database.session() as session:
            record = ExperimentService(session).get(name)
            return runs_frame(session.connection(), record.id)


def _ids(names: Sequence[str]):
    return select(StoredExperiment.id).where(StoredExperiment.name.in_(list(names)))


def _add(total: CostEstimate, part: CostEstimate, times: int) -> None:
    total.calls += part.calls * times
    total.cost += part.cost * times
    total.unpriced_calls += part.unpriced_calls * times
    for model, calls in part.unpriced_paid.items():
        total.unpriced_paid[model] = total.unpriced_paid.get(model, 0) + calls * times


def _stored_evaluators(plan: OptimizationPlan) -> list[Evaluator]:
    if not plan.evaluators:
        raise errors.InvalidData(
            "This optimisation was scored by Python functions, which the store cannot keep; "
            "pass them again: .resume(evaluators=[...])."
        )
    return [as_evaluator(spec) for spec in plan.evaluators]


@dataclass
class _Budget:
    """Stops the optimisation before a step that would take what it spent past ``budget`` dollars."""

    optimizer: Optimizer
    name: str
    plan: OptimizationPlan
    budget: float | None

    def spent(self) -> float:
        return self.optimizer.spent(step_names(self.name, self.plan.rounds))

    def check(self, step: str, estimate: CostEstimate) -> None:
        if self.budget is None:
            return
        spent = self.spent()
        if spent + estimate.cost > self.budget:
            raise _BudgetReached(
                f"Stopped before {step}: ${spent:.4f} spent and ${estimate.cost:.4f} more estimated would pass "
                f"the budget of ${self.budget:.4f}; nothing saved. .resume(budget=...) goes on from here."
            )


@dataclass
class _Steps:
    """The steps of one optimisation, each an experiment stored once and completed when it misses runs."""

    optimizer: Optimizer
    name: str
    plan: OptimizationPlan
    evaluators: list[Evaluator]
    options: ExecutionOptions
    budget: _Budget

    @property
    def scored_by(self) -> list[str]:
        return [evaluator.name for evaluator in self.evaluators]

    async def complete(self, step: str, evaluators: Sequence[Evaluator]) -> None:
        with self.optimizer.database.session() as session:
            status = ExperimentService(session).get(step).status
        if status == ExperimentStatus.COMPLETED:
            return
        self.budget.check(step, self.optimizer.estimate_missing(step, evaluators, self.options))
        await ExperimentExecution(self.optimizer.database, self.optimizer.settings).run(step, self.options, evaluators)

    def _is_stored(self, step: str) -> bool:
        with self.optimizer.database.session() as session:
            return session.scalar(select(StoredExperiment.id).where(StoredExperiment.name == step)) is not None

    def _store(
        self,
        step: str,
        targets: list[str],
        rows: list[dict[str, Any]],
        evaluators: Sequence[Evaluator],
        model: str | None = None,
    ) -> None:
        with self.optimizer.database.session() as session:
            self.optimizer.store(session, step, targets, rows, evaluators, model=model)

    def _tuning_rows(self) -> list[dict[str, Any]]:
        with self.optimizer.database.session() as session:
            service = ExperimentService(session)
            return service.rows(service.get(step_name(self.name, 0)).id)

    async def rounds(self, result: OptimizationResult, report: Report) -> None:
        best, scored_in = self.plan.original, step_name(self.name, 0)
        for number in range(1, self.plan.rounds + 1):
            failures = self._failures(scored_in, best)
            if not failures:
                report(f"Round {number}: {best} fails no tuning row; nothing left to improve.")
                return
            round_report = await self._round(number, best, failures)
            if round_report is None:
                report(f"Round {number}: the optimizer proposed no usable template; stopping.")
                return
            result.rounds.append(round_report)
            report(round_report.describe())
            best, scored_in = round_report.winner, round_report.experiment

    async def _round(self, number: int, best: str, failures: str) -> RoundReport | None:
        step = step_name(self.name, number)
        skipped: list[str] = []
        if not self._is_stored(step):
            candidates, skipped = await self._candidates(number, best, failures)
            if not candidates:
                return None
            self._store(step, [best, *candidates], self._tuning_rows(), self.evaluators)
        await self.complete(step, self.evaluators)
        scores = self._scores(step)
        winner = max(scores[1:], key=lambda score: score.mean)
        if not winner.mean > scores[0].mean:
            winner = scores[0]
        diff = text_diff(self._body(best), self._body(winner.label), best, winner.label)
        return RoundReport(number, step, scores, best, winner.label, diff, skipped)

    async def _candidates(self, number: int, best: str, failures: str) -> tuple[list[str], list[str]]:
        """Ask for the rewrites (a stored experiment of the meta-prompt) and save each usable one as a template."""
        step = proposals_step(self.name, number)
        if not self._is_stored(step):
            body = self._body(best)
            rows = [
                {"template": body, "failures": failures, "attempt": attempt, "candidates": self.plan.candidates}
                for attempt in range(1, self.plan.candidates + 1)
            ]
            self._store(step, [self.plan.meta_template], rows, (), model=self.plan.optimizer_model)
        await self.complete(step, ())
        return self._save_candidates(number, best, self.optimizer.runs(step))

    def _save_candidates(self, number: int, best: str, proposals: pd.DataFrame) -> tuple[list[str], list[str]]:
        columns = set(self._tuning_rows()[0])
        seen = {self._body(best)}
        candidates, skipped = [], []
        for proposal, (output, error) in enumerate(zip(proposals["output"], proposals["error"], strict=True), start=1):
            body = rewrite_text(output if isinstance(output, str) else None)
            reason = unusable_reason(body, error, seen, columns)
            if reason:
                skipped.append(f"proposal {proposal}: {reason}")
                continue
            seen.add(body)
            candidates.append(self._save_candidate(candidate_name(self.name, number, proposal), body, number))
        return candidates, skipped

    def _save_candidate(self, name: str, body: str, number: int) -> str:
        with self.optimizer.database.session() as session:
            templates = TemplateService(session, self.optimizer.settings)
            original = templates.get(self.plan.template, self.plan.version)
            description = f"Candidate of round {number} of the optimisation {self.name}"
            saved = templates.save(name, body, model=original.model, params=original.params, description=description)
            return saved.ref

    def _body(self, ref: str) -> str:
        name, _, version = ref.partition("@")
        with self.optimizer.database.session() as session:
            return TemplateService(session, self.optimizer.settings).get(name, int(version)).body

    def _scores(self, step: str) -> list[CandidateScore]:
        """Each variant's score in variant order: the current best first, then the candidates. Scores
        between 0 and 1 have their interval clipped to that range, as the summary's are."""
        scores = objective_scores(self.optimizer.runs(step), self.scored_by)
        summary = summarize(scores)
        low, high = score_range(scores["value"])
        summary[["ci_low", "ci_high"]] = summary[["ci_low", "ci_high"]].clip(low, high)
        return [
            CandidateScore(
                str(label), float(row["mean"]), float(row["ci_low"]), float(row["ci_high"]), int(row["n_rows"])
            )
            for label, row in summary.iterrows()
        ]

    def _failures(self, step: str, variant: str) -> str:
        """The rows ``variant`` did not pass fully in ``step``: data, answer and the failed evaluators' reasons."""
        runs = self.optimizer.runs(step)
        runs = runs[runs["variant"] == variant].reset_index(drop=True)
        scores = objective_scores(runs, self.scored_by)
        failed = runs[scores["value"].to_numpy() < 1.0].head(MAX_FAILURES)
        return "\n\n".join(self._failure_text(run) for _, run in failed.iterrows())

    def _failure_text(self, run: pd.Series) -> str:
        answer = run["output"] if isinstance(run["output"], str) else f"(no answer: {run['error']})"
        reasons = [f"{name}: {_reason(run, name)}" for name in self.scored_by if not run[name] == 1.0]
        return "\n".join(
            [f"data: {json.dumps(run['inputs'], ensure_ascii=False, default=str)}", f"answer: {answer}", *reasons]
        )

    async def prove(self, result: OptimizationResult) -> None:
        """The best candidate against the original on the holdout set; saved only when better beyond noise."""
        best = result.rounds[-1].winner if result.rounds else self.plan.original
        if best == self.plan.original:
            result.message = "No candidate beat the original on the tuning set; nothing saved."
            return
        step = holdout_step(self.name)
        if not self._is_stored(step):
            self._store(step, [best, self.plan.original], self.plan.holdout_rows, self.evaluators)
        await self.complete(step, self.evaluators)
        comparison = paired_difference(
            objective_scores(self.optimizer.runs(step), self.scored_by), best, self.plan.original
        )
        result.holdout = comparison
        verdict = f"{best} vs {self.plan.original} on the holdout set: {comparison!r}"
        if comparison.ci_low > 0:
            result.saved_version = self._save_winner(result, best, comparison)
            result.message = f"{verdict}; saved as {self.plan.template}@{result.saved_version}."
        else:
            result.message = f"{verdict}; no candidate beat the original beyond noise, nothing saved."
        self._retire_candidates()

    def _save_winner(self, result: OptimizationResult, best: str, comparison: PairedComparison) -> int:
        found_in = next(report for report in result.rounds if report.winner == best and report.improved)
        tuning = next(score for score in found_in.scores if score.label == best)
        original = self._scores(step_name(self.name, 0))[0]
        diff = text_diff(self._body(self.plan.original), self._body(best), self.plan.original, best)
        note = (
            f"Optimised by {self.name}, round {found_in.round} of {self.plan.rounds}: tuning {tuning.describe()} "
            f"vs {original.describe()} before; holdout difference {comparison.mean_diff:+.3f} "
            f"[{comparison.ci_low:.3f}, {comparison.ci_high:.3f}], p={comparison.p_value:.3g}, "
            f"n={comparison.n_pairs}.\n{diff}"
        )
        with self.optimizer.database.session() as session:
            templates = TemplateService(session, self.optimizer.settings)
            original_template = templates.get(self.plan.template, self.plan.version)
            saved = templates.save(
                self.plan.template,
                self._body(best),
                model=original_template.model,
                params=original_template.params,
                description=note,
            )
            return saved.version

    def _retire_candidates(self) -> None:
        """Candidates leave the list of templates once the optimisation is decided; their versions and runs stay."""
        rounds = [step_name(self.name, number) for number in range(1, self.plan.rounds + 1)]
        with self.optimizer.database.session() as session:
            query = select(Variant.target_name).join(StoredExperiment).where(StoredExperiment.name.in_(rounds))
            candidates = {name for name in session.scalars(query) if name != self.plan.template}
            live = select(StoredTemplate.name).where(
                StoredTemplate.name.in_(candidates), StoredTemplate.deleted_at.is_(None)
            )
            templates = TemplateService(session, self.optimizer.settings)
            for name in session.scalars(live).all():
                templates.delete(name)


def _reason(run: pd.Series, evaluator: str) -> str:
    reason = run.get(f"{evaluator} reason")
    return str(reason) if isinstance(reason, str) else "failed"


def _quiet(text: str) -> None:
    return None


class Optimization:
    """What ``lab.optimize`` returns: the rounds, the holdout comparison and the version saved (if any).
    ``resume()`` goes on from the last round after an interrupt or a budget stop; from another session,
    ``lab.optimization(name).resume()``. ``report`` shows each round's text when progress is on: the
    facade that made the optimisation decides where that goes."""

    def __init__(
        self,
        database: Database,
        settings: PromptLab,
        name: str,
        evaluators: Sequence[Evaluator] = (),
        report: Report = _quiet,
    ):
        self.database, self.settings = database, settings
        self.name = name
        self.evaluators = list(evaluators)
        self.report = report
        self.result: OptimizationResult | None = None

    async def aresume(
        self,
        *,
        budget: float | None = None,
        evaluators: Sequence[Any] | None = None,
        cache: bool | None = None,
        concurrency: int | None = None,
        progress: bool | None = None,
    ) -> Optimization:
        """Run what the optimisation misses; ``budget`` replaces the one it was started with."""
        if evaluators:
            self.evaluators = [as_evaluator(evaluator) for evaluator in evaluators]
        options = ExecutionOptions(
            cache=self.settings.cache if cache is None else cache, progress=False, confirm=True, concurrency=concurrency
        )
        shown = self.settings.progress if progress is None else progress
        optimizer = Optimizer(self.database, self.settings)
        self.result = await optimizer.run(self.name, self.evaluators, options, self.report if shown else _quiet, budget)
        return self

    resume = blocking(aresume)

    @property
    def saved_version(self) -> int | None:
        """The version the optimisation saved, None when no candidate beat the original beyond noise."""
        return self.result.saved_version if self.result else None

    @property
    def holdout(self) -> PairedComparison | None:
        """The best candidate minus the original on the holdout set."""
        return self.result.holdout if self.result else None

    @property
    def rounds(self) -> list[RoundReport]:
        return self.result.rounds if self.result else []

    @property
    def experiments(self) -> list[str]:
        """The stored experiments of this optimisation, in the order they ran."""
        plan = Optimizer(self.database, self.settings).plan(self.name)
        names = step_names(self.name, plan.rounds)
        with self.database.session() as session:
            stored = set(session.scalars(select(StoredExperiment.name).where(StoredExperiment.name.in_(names))))
        return [name for name in names if name in stored]

    def __repr__(self) -> str:
        if self.result is None:
            return f"<Optimization {self.name}: not run in this session; .resume() runs what it misses>"
        state = "stopped at the budget" if self.result.stopped_at_budget else f"{len(self.rounds)} rounds"
        spent = f"${self.result.spent:.4f} spent"
        return f"<Optimization {self.name} of {self.result.template}: {state}, {spent}. {self.result.message}>"
