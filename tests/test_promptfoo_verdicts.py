"""promptlab's verdicts on a promptfoo config match promptfoo's own, case by case (tests/fixtures/promptfoo)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from promptlab_nb.evaluation.assertions import ASSERTIONS_KEY, RunFacts
from promptlab_nb.evaluation.run_scoring import RunScorer
from promptlab_nb.evaluation.specs import as_evaluator
from promptlab_nb.services.promptfoo_import import convert_promptfoo_config

FIXTURES = Path(__file__).parent / "fixtures" / "promptfoo"
PROMPTFOO = json.loads((FIXTURES / "verdicts.json").read_text(encoding="utf-8"))


def scored_by_promptlab(row: dict, output: str, facts: RunFacts, evaluator_specs: list[str]) -> dict[str, dict]:
    """Every score promptlab stores for one run of ``row``, by evaluator name."""
    scorer = RunScorer([as_evaluator(spec) for spec in evaluator_specs], None, "mock:echo", "experiment")  # type: ignore[arg-type]
    records = asyncio.run(scorer.score("run", output, None, row, facts))
    return {record["evaluator"]: record for record in records}


@pytest.fixture(scope="module")
def converted() -> dict:
    return convert_promptfoo_config(FIXTURES / "promptfooconfig.yaml").document


@pytest.mark.parametrize("case", PROMPTFOO["tests"], ids=[test["description"] for test in PROMPTFOO["tests"]])
def test_each_assertion_and_each_test_gets_promptfoos_verdict(converted, case):
    # Given the test as promptlab imported it, and the output, latency and cost promptfoo saw
    index = PROMPTFOO["tests"].index(case)
    row = converted["data"][index]
    facts = RunFacts(latency_ms=case["latency_ms"], cost=case["cost"])
    # When promptlab scores that output
    scores = scored_by_promptlab(row, case["output"], facts, converted["evaluators"])
    # Then every assertion passes or fails as in promptfoo, with promptfoo's score
    mine = [scores[f"assert:{item['label']}"] for item in row[ASSERTIONS_KEY]]
    assert [item["type"] for item in row[ASSERTIONS_KEY]] == [item["type"] for item in case["assertions"]]
    assert [(score["passed"], score["value"]) for score in mine] == [
        (item["pass"], item["score"]) for item in case["assertions"]
    ], case["description"]
    # And the test's verdict and its score are promptfoo's
    assert scores["test"]["passed"] is case["pass"]
    assert scores["test"]["reason"].startswith(f"score {case['score']:.2f}")


def test_the_comparison_covers_every_assertion_type_promptlab_maps_but_those_needing_a_model():
    # Given the assertion types of the fixture
    # When they are gathered, without their negation
    covered = {item["type"].removeprefix("not-") for case in PROMPTFOO["tests"] for item in case["assertions"]}
    # Then each type promptlab checks itself is compared with promptfoo, in both forms somewhere
    from promptlab_nb.evaluation.assertions import ASSERTION_TYPES

    assert covered == set(ASSERTION_TYPES) - {"llm-rubric", "similar"}
    negated = {
        item["type"] for case in PROMPTFOO["tests"] for item in case["assertions"] if item["type"].startswith("not-")
    }
    assert len(negated) >= 10
