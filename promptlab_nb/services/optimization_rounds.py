"""What an optimisation's rounds are made of: its stored plan, the tuning/holdout split, the score a
candidate is judged by, the rewrites read from the optimizer's answers, the names of its steps, and
the reports of each round. Pure: no store, no model calls."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from promptlab_nb.core import errors
from promptlab_nb.engine.diffing import unified_text_diff
from promptlab_nb.engine.templating import compile_template
from promptlab_nb.evaluation.analysis import long_scores
from promptlab_nb.evaluation.statistics import PairedComparison

EXPECTED = "expected"
MAX_FAILURES = 8


@dataclass(frozen=True)
class OptimizationPlan:
    """What an optimisation was asked to do, kept in the settings of its first experiment."""

    template: str
    version: int
    evaluators: list[str]
    optimizer_model: str
    meta_template: str
    rounds: int
    candidates: int
    holdout_rows: list[dict[str, Any]]
    budget: float | None

    @property
    def original(self) -> str:
        return f"{self.template}@{self.version}"


@dataclass(frozen=True)
class CandidateScore:
    """A variant's mean score on a set of rows (the evaluators averaged per run), with its 95% CI."""

    label: str
    mean: float
    ci_low: float
    ci_high: float
    n: int

    def describe(self) -> str:
        return f"{self.mean:.3f} [{self.ci_low:.3f}, {self.ci_high:.3f}] n={self.n}"


@dataclass(frozen=True)
class RoundReport:
    """One round: every variant's score on the tuning set, the best before it, and the winner."""

    round: int
    experiment: str
    scores: list[CandidateScore]
    best_before: str
    winner: str
    diff: str
    skipped: list[str] = field(default_factory=list)

    @property
    def improved(self) -> bool:
        return self.winner != self.best_before

    def describe(self) -> str:
        lines = [f"Round {self.round} ({self.experiment}): {len(self.scores) - 1} candidates on the tuning set"]
        lines += [
            f"  {score.label}: {score.describe()}{'  <- best' if score.label == self.winner else ''}"
            for score in self.scores
        ]
        lines += [f"  skipped: {reason}" for reason in self.skipped]
        if self.improved:
            lines += [
                "  winning text, changed from the best before:",
                *("    " + line for line in self.diff.splitlines()),
            ]
        else:
            lines.append(f"  no candidate beat {self.best_before} on the tuning set")
        return "\n".join(lines)


@dataclass
class OptimizationResult:
    """Where an optimisation stands: its rounds, the holdout comparison and the version it saved, if any."""

    name: str
    template: str
    original_version: int
    rounds: list[RoundReport] = field(default_factory=list)
    holdout: PairedComparison | None = None
    saved_version: int | None = None
    stopped_at_budget: bool = False
    spent: float = 0.0
    message: str = ""


def split_rows(
    rows: Sequence[dict[str, Any]], holdout: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Tuning and holdout rows: a seeded share ``holdout`` of the rows, taken from each ``expected`` value
    in proportion when the data has that column (largest remainders first, ties broken by the seed)."""
    if not 0 < holdout < 1:
        raise errors.InvalidData(
            f"holdout is the share of rows kept for the final test, between 0 and 1; got {holdout}."
        )
    generator = random.Random(seed)
    groups: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(json.dumps(row.get(EXPECTED), sort_keys=True, default=str), []).append(index)
    for indices in groups.values():
        generator.shuffle(indices)
    quotas = {key: len(indices) * holdout for key, indices in groups.items()}
    taken = {key: math.floor(quota) for key, quota in quotas.items()}
    ties = {key: generator.random() for key in sorted(groups)}
    by_remainder = sorted(groups, key=lambda key: (taken[key] - quotas[key], ties[key]))
    for key in by_remainder[: round(len(rows) * holdout) - sum(taken.values())]:
        taken[key] += 1
    chosen = {index for key, indices in groups.items() for index in indices[: taken[key]]}
    tuning = [row for index, row in enumerate(rows) if index not in chosen]
    held_out = [row for index, row in enumerate(rows) if index in chosen]
    if len(tuning) < 2 or len(held_out) < 2:
        raise errors.InvalidData(
            f"{len(rows)} rows split into {len(tuning)} to tune on and {len(held_out)} to test on; "
            "each needs at least 2: give more rows or change holdout."
        )
    return tuning, held_out


def objective_scores(runs: pd.DataFrame, evaluators: Sequence[str]) -> pd.DataFrame:
    """variant, row_index, repeat, value: each run's evaluators averaged (a failed run scores 0)."""
    parts = [long_scores(runs, name).set_index(["variant", "row_index", "repeat"])["value"] for name in evaluators]
    return pd.concat(parts, axis=1).mean(axis=1).rename("value").reset_index()


def rewrite_text(answer: str | None) -> str:
    """The template in an optimizer's answer: the answer without a surrounding code fence."""
    text = (answer or "").strip()
    if text.startswith("```"):
        text = text.partition("\n")[2].rstrip()
        text = text.removesuffix("```").rstrip()
    return text


def step_name(name: str, round_number: int) -> str:
    return f"{name}-r{round_number}"


def proposals_step(name: str, round_number: int) -> str:
    return f"{name}-r{round_number}-proposals"


def holdout_step(name: str) -> str:
    return f"{name}-holdout"


def candidate_name(name: str, round_number: int, proposal: int) -> str:
    return f"{name}.r{round_number}-{proposal}"


def step_names(name: str, rounds: int) -> list[str]:
    per_round = [[proposals_step(name, number), step_name(name, number)] for number in range(1, rounds + 1)]
    return [step_name(name, 0), *(step for steps in per_round for step in steps), holdout_step(name)]


def text_diff(old: str, new: str, old_label: str, new_label: str) -> str:
    """The diff of two templates' text, whether or not each ends with a newline."""
    return unified_text_diff(old.rstrip() + "\n", new.rstrip() + "\n", old_label, new_label)


def unusable_reason(body: str, error: Any, seen: set[str], columns: set[str]) -> str | None:
    """Why a proposed template cannot be a candidate, or None when it can."""
    if not body:
        return f"no answer ({error})" if isinstance(error, str) else "an empty answer"
    if body in seen:
        return "the same text as another template of this round"
    try:
        missing = set(compile_template(body).variables) - columns
    except errors.PromptLabError as problem:
        return str(problem)
    return f"it needs {', '.join(sorted(missing))}, not in the data" if missing else None
