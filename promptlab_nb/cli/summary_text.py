"""The summary and the checks as a terminal shows them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from promptlab_nb.services.ci_reports import CheckOutcome


def summary_text(name: str, summary: pd.DataFrame) -> str:
    """Per variant: runs, errors and cost, then each score with its 95% CI."""
    evaluators = [column for column in summary.columns if f"{column} ci_low" in summary.columns]
    lines = [f"Experiment {name}"]
    for variant, row in summary.iterrows():
        errors = f"{row['error_rate']:.1%}" if _known(row.get("error_rate")) else "-"
        cost = f"${row['cost']:.4f}" if _known(row.get("cost")) else "unknown"
        lines.append(f"  {variant}: {int(row['runs'])} runs, errors {errors}, cost {cost}")
        width = max((len(evaluator) for evaluator in evaluators), default=0)
        for evaluator in evaluators:
            lines.append(f"    {evaluator:<{width}}  {_score(row, evaluator)}")
    return "\n".join(lines)


def checks_text(checks: Sequence[CheckOutcome]) -> str:
    failed = sum(not check.passed for check in checks)
    lines = [f"Checks: {len(checks) - failed} passed, {failed} failed"]
    for check in checks:
        mark = "PASS" if check.passed else "FAIL"
        reason = f" ({check.reason})" if check.reason else ""
        lines.append(f"  {mark} {check.variant}: {check.check}{reason}")
    return "\n".join(lines)


def _score(row: pd.Series, evaluator: str) -> str:
    mean, low, high = row[evaluator], row[f"{evaluator} ci_low"], row[f"{evaluator} ci_high"]
    if not _known(mean):
        return "-"
    interval = f"  95% CI [{low:.3f}, {high:.3f}]" if _known(low) and _known(high) else ""
    return f"{mean:.3f}{interval}"


def _known(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))
