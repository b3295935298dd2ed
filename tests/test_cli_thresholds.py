"""Thresholds of an experiment file: on a score's mean, its CI's bounds, or a summary column."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from promptlab_nb.core.errors import InvalidData
from promptlab_nb.evaluation.thresholds import check_thresholds, parse_threshold

SUMMARY = pd.DataFrame(
    {
        "runs": [10, 10],
        "error_rate": [0.0, 0.2],
        "equals:expected": [0.9, 0.6],
        "equals:expected ci_low": [0.7, 0.3],
        "equals:expected ci_high": [1.0, 0.85],
        "cost": [0.02, math.nan],
    },
    index=pd.Index(["a@1", "b@1"], name="variant"),
)


def verdicts(*texts: str) -> list[tuple[str, str, bool, str]]:
    thresholds = [parse_threshold(text, ["equals:expected"]) for text in texts]
    return [(r.variant, r.threshold.text, r.passed, r.reason) for r in check_thresholds(SUMMARY, thresholds)]


def test_a_threshold_checks_the_mean_unless_it_names_a_bound_of_the_interval():
    # Given a@1 scoring 0.9 (CI 0.7 to 1.0) and b@1 scoring 0.6 (CI 0.3 to 0.85)
    # When the mean and the CI's lower bound are checked on each variant
    checked = verdicts("equals:expected >= 0.8", "ci_low(equals:expected) >= 0.5")
    # Then each variant passes or fails each, with the value that failed it
    assert checked == [
        ("a@1", "equals:expected >= 0.8", True, ""),
        ("a@1", "ci_low(equals:expected) >= 0.5", True, ""),
        ("b@1", "equals:expected >= 0.8", False, "equals:expected is 0.6, not >= 0.8"),
        ("b@1", "ci_low(equals:expected) >= 0.5", False, "equals:expected ci_low is 0.3, not >= 0.5"),
    ]


def test_summary_columns_check_as_they_are_and_an_unknown_cost_fails():
    # Given a@1 without errors and priced, b@1 with 2 errors in 10 runs and no known cost
    # When the error rate and the cost are checked
    checked = verdicts("error_rate <= 0.1", "cost < 1")
    # Then an unknown cost (unpriced model) fails rather than passes
    assert [(variant, passed) for variant, _, passed, _ in checked] == [
        ("a@1", True), ("a@1", True), ("b@1", False), ("b@1", False),
    ]  # fmt: skip
    assert checked[3][3] == "cost has no value"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("equals:expected", "is not an expression"),
        ("equals:expected => 0.9", "is not an expression"),
        ("contains:Paris >= 0.9", "checks 'contains:Paris', which is no evaluator or summary column"),
        ("ci_low(error_rate) <= 0.1", "ci_low() applies to an evaluator's score"),
        ("equals:expected >= high", "is not an expression"),
    ],
)
def test_a_threshold_that_cannot_be_checked_says_why(text, reason):
    # Given a threshold that is no expression or names what cannot be checked
    # When a threshold cannot be read
    with pytest.raises(InvalidData) as refused:
        parse_threshold(text, ["equals:expected"])
    # Then the error says why and how to write it
    assert reason in str(refused.value)
