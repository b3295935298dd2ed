"""Thresholds: checks on each variant's summary that make a run pass or fail a CI gate.

``equals:expected >= 0.9`` checks the mean score; ``ci_low(equals:expected) >= 0.8`` the lower bound
of its 95% confidence interval (the mean is at least that high beyond noise); ``ci_high(...)`` the
upper bound. Summary columns check as they are: ``error_rate <= 0.05``, ``cost <= 2``,
``latency_p95_ms < 3000``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from promptlab_nb.core.errors import InvalidData

SUMMARY_METRICS = ("error_rate", "cost", "latency_p50_ms", "latency_p95_ms", "input_tokens", "output_tokens")
STATISTICS = ("mean", "ci_low", "ci_high")
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
_EXPRESSION = re.compile(
    r"^\s*(?:(?P<statistic>mean|ci_low|ci_high)\((?P<inner>.+)\)|(?P<bare>.+?))\s*"
    r"(?P<comparison>>=|<=|==|>|<)\s*(?P<bound>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)
EXAMPLE = "write it as 'equals:expected >= 0.9', 'ci_low(equals:expected) >= 0.8' or 'error_rate <= 0.05'"


@dataclass(frozen=True)
class Threshold:
    """``metric`` (an evaluator's name or a summary column), its ``statistic``, compared with ``bound``."""

    text: str
    metric: str
    statistic: str
    comparison: str
    bound: float

    @property
    def column(self) -> str:
        return self.metric if self.statistic == "mean" else f"{self.metric} {self.statistic}"

    def check(self, summary_row: pd.Series) -> ThresholdResult:
        value = summary_row.get(self.column)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ThresholdResult(self, str(summary_row.name), None, False, f"{self.column} has no value")
        value = float(value)
        passed = _COMPARISONS[self.comparison](value, self.bound)
        reason = "" if passed else f"{self.column} is {value:.4g}, not {self.comparison} {self.bound:g}"
        return ThresholdResult(self, str(summary_row.name), value, passed, reason)


@dataclass(frozen=True)
class ThresholdResult:
    threshold: Threshold
    variant: str
    value: float | None
    passed: bool
    reason: str


def parse_threshold(text: str, evaluators: Iterable[str]) -> Threshold:
    """The threshold ``text`` describes, on one of ``evaluators`` (their names) or a summary column."""
    found = _EXPRESSION.match(text)
    if found is None:
        raise InvalidData(f"threshold {text!r} is not an expression; {EXAMPLE}.")
    metric = (found["inner"] or found["bare"]).strip()
    if metric.endswith(("<", ">", "=", "!")):
        raise InvalidData(f"threshold {text!r} is not an expression; {EXAMPLE}.")
    statistic = found["statistic"] or "mean"
    known = list(evaluators)
    if metric not in known and metric not in SUMMARY_METRICS:
        choices = ", ".join(map(repr, [*known, *SUMMARY_METRICS]))
        raise InvalidData(f"threshold {text!r} checks {metric!r}, which is no evaluator or summary column: {choices}.")
    if statistic != "mean" and metric not in known:
        raise InvalidData(f"threshold {text!r}: {statistic}() applies to an evaluator's score, not to {metric!r}.")
    return Threshold(text.strip(), metric, statistic, found["comparison"], float(found["bound"]))


def check_thresholds(summary: pd.DataFrame, thresholds: Iterable[Threshold]) -> list[ThresholdResult]:
    """Every threshold on every variant of ``summary`` (one row per variant, as ``exp.summary()``)."""
    return [threshold.check(row) for _, row in summary.iterrows() for threshold in thresholds]
