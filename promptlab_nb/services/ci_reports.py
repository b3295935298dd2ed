"""What a CI job keeps of a run: the JSON results and the JUnit XML of the thresholds.

JSON results (``promptlab run --json PATH``)::

    {"experiment": NAME,
     "passed": true | false,                       # every threshold and baseline check held
     "summary": [{"variant": LABEL, "runs": N, "error_rate": ..., "cost": ...,
                  "scores": {EVALUATOR: {"mean": ..., "ci_low": ..., "ci_high": ...}}}],
     "checks": [{"variant": LABEL, "check": TEXT, "value": ..., "passed": bool, "reason": TEXT}],
     "runs": [{"variant": LABEL, "row_index": N, "repeat": N, "vars": {...}, "output": TEXT,
               "status": "ok" | "error" | "cancelled", "error": TEXT | null,
               "scores": {EVALUATOR: {"value": ..., "passed": ..., "reason": ...}}}]}

JUnit XML (``--junit PATH``): one testsuite per experiment, one testcase per variant and check; a
failing case carries the reason in its ``<failure message=...>``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from promptlab_nb.evaluation.thresholds import Threshold, check_thresholds
from promptlab_nb.services.baselines import BaselineComparison

RUNS_QUERY = """
select r.id, v.label as variant, r.row_index, r."repeat", r.status, r.output, r.error, er.inputs
from run r
join variant v on v.id = r.variant_id
left join experiment_row er on er.experiment_id = r.experiment_id and er.row_index = r.row_index
where r.experiment_id = :experiment_id
order by r.row_index, v.position, r."repeat"
"""

SCORES_QUERY = """
select run_id, evaluator, value, passed, reason, error from score where experiment_id = :experiment_id
order by created_at
"""


@dataclass(frozen=True)
class CheckOutcome:
    """One gate check on one variant: a threshold, or the comparison with the baseline."""

    variant: str
    check: str
    passed: bool
    reason: str = ""
    value: float | None = None


def threshold_checks(summary: pd.DataFrame, thresholds: Sequence[Threshold]) -> list[CheckOutcome]:
    """Every threshold on every variant of ``summary``."""
    return [
        CheckOutcome(result.variant, result.threshold.text, result.passed, result.reason, result.value)
        for result in check_thresholds(summary, thresholds)
    ]


def baseline_checks(comparison: BaselineComparison, variants: Sequence[str]) -> list[CheckOutcome]:
    """One check per variant: no evaluator worse than the baseline beyond noise (the paired difference's
    95% CI wholly below zero on the shared rows)."""
    check = f"not worse than baseline {comparison.baseline}"
    outcomes = []
    for variant in variants:
        worse = [difference for difference in comparison.worse if difference.variant == variant]
        reason = "; ".join(
            f"{item.evaluator} {item.mean_diff:+.3f} [{item.ci_low:+.3f}, {item.ci_high:+.3f}] on {item.n} shared rows"
            for item in worse
        )
        outcomes.append(CheckOutcome(variant, check, not worse, f"worse beyond noise: {reason}" if worse else ""))
    return outcomes


def results_document(
    session: Session, experiment_id: str, name: str, summary: pd.DataFrame, checks: Sequence[CheckOutcome]
) -> dict[str, Any]:
    return {
        "experiment": name,
        "passed": all(check.passed for check in checks),
        "summary": summary_records(summary),
        "checks": [_check_record(check) for check in checks],
        "runs": _run_records(session, experiment_id),
    }


def summary_records(summary: pd.DataFrame) -> list[dict[str, Any]]:
    """Per variant: runs, error rate, cost, and each score's mean with its 95% CI."""
    evaluators = [column for column in summary.columns if f"{column} ci_low" in summary.columns]
    plain = ("runs", "error_rate", "latency_p50_ms", "latency_p95_ms", "cost", "cache_hits")
    records = []
    for variant, row in summary.iterrows():
        record: dict[str, Any] = {"variant": str(variant)}
        record.update({column: _number(row.get(column)) for column in plain if column in summary.columns})
        record["scores"] = {
            evaluator: {
                "mean": _number(row[evaluator]),
                "ci_low": _number(row[f"{evaluator} ci_low"]),
                "ci_high": _number(row[f"{evaluator} ci_high"]),
            }
            for evaluator in evaluators
        }
        records.append(record)
    return records


def _check_record(check: CheckOutcome) -> dict[str, Any]:
    return {
        "variant": check.variant,
        "check": check.check,
        "value": _number(check.value),
        "passed": check.passed,
        "reason": check.reason or None,
    }


def _run_records(session: Session, experiment_id: str) -> list[dict[str, Any]]:
    scores: dict[str, dict[str, Any]] = {}
    for run_id, evaluator, value, passed, reason, error in session.execute(
        text(SCORES_QUERY), {"experiment_id": experiment_id}
    ):
        scores.setdefault(run_id, {})[evaluator] = {
            "value": _number(value),
            "passed": None if passed is None else bool(passed),
            "reason": reason or error,
        }
    return [
        {
            "variant": variant,
            "row_index": row_index,
            "repeat": repeat,
            "vars": _loads(inputs) or {},
            "output": output,
            "status": str(status),
            "error": error,
            "scores": scores.get(run_id, {}),
        }
        for run_id, variant, row_index, repeat, status, output, error, inputs in session.execute(
            text(RUNS_QUERY), {"experiment_id": experiment_id}
        )
    ]


def junit_xml(name: str, checks: Sequence[CheckOutcome]) -> str:
    """One testcase per variant and check, named ``check``, in the class ``name.variant``."""
    failures = sum(not check.passed for check in checks)
    suite = ElementTree.Element("testsuite", name=name, tests=str(len(checks)), failures=str(failures), errors="0")
    for check in checks:
        case = ElementTree.SubElement(suite, "testcase", classname=f"{name}.{check.variant}", name=check.check)
        if not check.passed:
            ElementTree.SubElement(case, "failure", message=check.reason or "failed").text = check.reason
    suites = ElementTree.Element("testsuites", name="promptlab", tests=str(len(checks)), failures=str(failures))
    suites.append(suite)
    ElementTree.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(suites, encoding="unicode") + "\n"


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
