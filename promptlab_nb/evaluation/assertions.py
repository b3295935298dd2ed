"""promptfoo's assertions, scored as promptfoo scores them, per data row.

An imported promptfoo test keeps its assertions in its data row (``row["assert"]``, a list of
``{"label", "type", "value", "weight", "threshold"}``; ``row["assert_threshold"]`` is the test's
threshold). Each distinct assertion is an evaluator named ``assert:LABEL`` that scores only the rows
holding it; the evaluator ``test`` combines a row's assertion results into the test's verdict the
way promptfoo 0.123 does: the score is the weighted mean of the assertion scores; the test passes
when no assertion failed (an assertion of weight 0 never fails), or, with a test threshold, when the
score reaches it. ``test`` scores 1 for a pass and 0 for a fail (its mean is the pass rate); its
reason gives the score.

``similar`` compares texts with rapidfuzz's ratio (lexical), not with embeddings as promptfoo does;
``llm-rubric`` is graded by the lab's judge.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from rapidfuzz import fuzz

from promptlab_nb.core.errors import InvalidEvaluator
from promptlab_nb.evaluation.evaluators import EvalResult, Evaluator, RowMapping, shorten
from promptlab_nb.evaluation.judge import Judge

ASSERTIONS_KEY = "assert"
TEST_THRESHOLD_KEY = "assert_threshold"
TEST_VERDICT = "test"
SPEC_PREFIX = "assert:"
SIMILAR_THRESHOLD = 0.75
RUBRIC_THRESHOLD = 0.5
_LABEL_THRESHOLD = re.compile(r"@([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)$")


@dataclass(frozen=True)
class RunFacts:
    """What scoring one run knows besides its output: the call's latency and cost, and the results of
    the evaluators scored before on the same run (by name)."""

    latency_ms: float | None = None
    cost: float | None = None
    cache_hit: bool = False
    results: Mapping[str, EvalResult] = field(default_factory=dict)


@dataclass(frozen=True)
class Assertion:
    """One promptfoo assertion: ``kind`` without its ``not-`` prefix, ``inverse`` for that prefix."""

    label: str
    kind: str
    inverse: bool = False
    value: Any = None
    weight: float = 1.0
    threshold: float | None = None

    @classmethod
    def from_row(cls, item: Mapping[str, Any]) -> Assertion:
        kind = str(item["type"])
        return cls(
            label=str(item["label"]),
            kind=kind.removeprefix("not-"),
            inverse=kind.startswith("not-"),
            value=item.get("value"),
            weight=float(item.get("weight", 1.0)),
            threshold=None if item.get("threshold") is None else float(item["threshold"]),
        )

    @property
    def type(self) -> str:
        return f"not-{self.kind}" if self.inverse else self.kind

    def row_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {"label": self.label, "type": self.type}
        if self.value is not None:
            item["value"] = self.value
        if self.weight != 1.0:
            item["weight"] = self.weight
        if self.threshold is not None:
            item["threshold"] = self.threshold
        return item

    @property
    def evaluator_name(self) -> str:
        return SPEC_PREFIX + self.label


def assertion_label(kind: str, value: Any, threshold: float | None) -> str:
    """A short readable name: ``icontains:paris``, ``not-regex:^\\d+$``, ``cost@0.01``, ``similar:Paris@0.9``."""
    text = _value_text(value)
    label = f"{kind}:{shorten(text)}" if text else kind
    return f"{label}@{threshold:g}" if threshold is not None else label


def _value_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        return "|".join(str(item) for item in value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def row_assertions(row: RowMapping) -> list[Assertion]:
    items = row.get(ASSERTIONS_KEY) or []
    return [Assertion.from_row(item) for item in items if isinstance(item, Mapping)]


def _row_assertion(row: RowMapping, label: str) -> Assertion | None:
    return next((assertion for assertion in row_assertions(row) if assertion.label == label), None)


def score_assertion(assertion: Assertion, output: str, facts: RunFacts) -> EvalResult:
    """The assertion's verdict on ``output`` as promptfoo gives it (an assertion of weight 0 passes)."""
    check = _CHECKS.get(assertion.kind)
    if check is None:
        return EvalResult(error=f"no check for the assertion type {assertion.type!r}")
    try:
        passed, score, reason = check(assertion, output, facts)
    except _CannotCheck as problem:
        return EvalResult(0.0, False, str(problem))
    if assertion.weight == 0:
        passed = True
    return EvalResult(score, passed, None if passed else reason)


class _CannotCheck(Exception):
    """promptfoo throws for these (a cost assertion without a cost, a value of the wrong type): the test fails."""


Check = Callable[[Assertion, str, RunFacts], tuple[bool, float, str]]


def _verdict(assertion: Assertion, held: bool, failure: str) -> tuple[bool, float, str]:
    passed = held != assertion.inverse
    prefix = "not " if assertion.inverse else ""
    return passed, float(passed), f"expected output to {prefix}{failure}"


def _text_value(assertion: Assertion) -> str:
    value = assertion.value
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
        raise _CannotCheck(f"{assertion.type} needs a text value")
    return _js_string(value)


def _js_string(value: Any) -> str:
    """The text JavaScript's String(value) gives for a YAML scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _list_value(assertion: Assertion) -> list[str]:
    value = assertion.value
    if not value:
        raise _CannotCheck(f"{assertion.type} needs a value")
    if isinstance(value, str):
        value = comma_separated(value)
    if not isinstance(value, list):
        raise _CannotCheck(f"{assertion.type} needs a list of texts")
    return [_js_string(item) for item in value]


def comma_separated(text: str) -> list[str]:
    """promptfoo's reading of ``"a, b, \\"c, d\\""``: fields split at commas, trimmed; quoted fields keep commas."""
    fields: list[str] = []
    position = 0
    while position < len(text):
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text):
            break
        if text[position] == '"':
            found, position = _quoted_field(text, position)
            while position < len(text) and text[position] in " \t\r\n":
                position += 1
        else:
            end = text.find(",", position)
            end = len(text) if end < 0 else end
            found, position = text[position:end].strip(), end
        fields.append(found)
    return fields


def _quoted_field(text: str, start: int) -> tuple[str, int]:
    position, found = start + 1, ""
    while position < len(text):
        character = text[position]
        if character == "\\" and text[position + 1 : position + 2] in ('"', "\\"):
            found, position = found + text[position + 1], position + 2
        elif character == '"' and text[position + 1 : position + 2] == '"':
            found, position = found + '"', position + 2
        elif character == '"':
            return found, position + 1
        else:
            found, position = found + character, position + 1
    raise _CannotCheck("a quoted field in the list is never closed")


def _equals(assertion: Assertion, output: str, facts: RunFacts) -> tuple[bool, float, str]:
    expected = assertion.value
    if isinstance(expected, dict | list):
        try:
            held = json.loads(output) == expected
        except json.JSONDecodeError:
            held = False
        return _verdict(assertion, held, f"equal {json.dumps(expected)}")
    text = "" if expected is None else _js_string(expected)
    return _verdict(assertion, output == text, f"equal {text!r}")


def _contains(assertion: Assertion, output: str, facts: RunFacts) -> tuple[bool, float, str]:
    text = _text_value(assertion)
    return _verdict(assertion, text in output, f"contain {text!r}")


def _icontains(assertion: Assertion, output: str, facts: RunFacts) -> tuple[bool, float, str]:
    text = _text_value(assertion)
    return _verdict(assertion, text.lower() in output.lower(), f"contain {text!r}")


def _containing(combine: Callable[[Any], bool], fold: Callable[[str], str], wording: str) -> Check:
    def check(assertion: Assertion, output: str, facts: RunFacts) -> tuple[bool, float, str]:
        texts = _list_value(assertion)
        folded = fold(output)
        return _verdict(assertion, combine(fold(text) in folded for text in texts), f"{wording} {texts!r}")

    return check


def _regex(assertion: Assertion, output: str, facts: RunFacts) -> tuple[bool, float, str]:
    pattern = assertion.value
    if not isinstance(pattern, str) or not pattern:
        raise _CannotCheck("regex needs a pattern")
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        return False, 0.0, f"invalid regex pattern: {error}"
    return _verdict(assertion, compiled.search(output) is not None, f"match regex {pattern!r}")


def _starts_with(assertion: Assertion, output: str, facts: RunFacts) -> tuple[bool, float, str]:
    prefix = assertion.value
    if not isinstance(prefix, str) or not prefix:
        raise _CannotCheck("starts-with needs a text")
    return _verdict(assertion, output.startswith(prefix), f"start with {prefix!r}")


def _is_json(assertion: Assertion, output: str, facts: RunFacts) -> tuple[bool, float, str]:
    try:
        parsed = json.loads(output)
    except json.JSONDecodeError:
        return _verdict(assertion, False, "be valid JSON")
    if not assertion.value:
        return _verdict(assertion, True, "be valid JSON")
    problem = _schema_problem(assertion.value, parsed)
    passed = (problem is None) != assertion.inverse
    return passed, float(passed), problem or "output is JSON that conforms to the schema"


def _contains_json(assertion: Assertion, output: str, facts: RunFacts) -> tuple[bool, float, str]:
    found = json_objects_in(output)
    passed = (len(found) == 0) if assertion.inverse else (len(found) > 0)
    reason = f"expected output to {'not ' if assertion.inverse else ''}contain valid JSON"
    if assertion.value:
        for candidate in found:
            problem = _schema_problem(assertion.value, candidate)
            passed = (problem is None) != assertion.inverse
            if problem is None:
                reason = "output contains JSON that conforms to the schema" if assertion.inverse else reason
                break
            reason = problem
    return passed, float(passed), reason


def _schema_problem(schema: Any, document: Any) -> str | None:
    import jsonschema

    if isinstance(schema, str):
        schema = yaml.safe_load(schema)
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    return None if error is None else f"JSON does not conform to the schema: {error.message}"


def json_objects_in(text: str, max_length: int = 100_000) -> list[Any]:
    """The JSON objects written in ``text`` (promptfoo's reading: from each ``{``, the shortest span with
    balanced braces that parses, braces added at the end of the text)."""
    found: list[Any] = []
    start = 0
    while start < len(text):
        if text[start] != "{":
            start += 1
            continue
        parsed, end = _object_from(text, start, max_length)
        if parsed is not None:
            found.append(parsed)
            start = end
        else:
            start += 1
    return found


def _object_from(text: str, start: int, max_length: int) -> tuple[Any, int]:
    opened, closed = 1, 0
    position = start + 1
    limit = min(start + max_length, len(text))
    while position < limit and opened > closed:
        opened += text[position] == "{"
        closed += text[position] == "}"
        position += 1
        if opened == closed or position == len(text) or position == start + max_length:
            candidate = text[start:position] + "}" * max(opened - closed, 0)
            parsed = _lenient_object(candidate)
            if parsed is not None:
                return parsed, position
            if opened == closed:
                break
    return None, start + 1


def _lenient_object(candidate: str) -> Any:
    try:
        parsed = json.loads(candidate)
    except json.JSONDecodeError:
        try:
            parsed = yaml.safe_load(candidate)
        except yaml.YAMLError:
            return None
    return parsed if isinstance(parsed, dict | list) else None


def _similar(assertion: Assertion, output: str, facts: RunFacts) -> tuple[bool, float, str]:
    expected = assertion.value
    texts = expected if isinstance(expected, list) else [expected]
    if not texts or not all(isinstance(text, str) for text in texts):
        raise _CannotCheck("similar needs a text or a list of texts")
    threshold = SIMILAR_THRESHOLD if assertion.threshold is None else assertion.threshold
    best = max(fuzz.ratio(output, text) / 100 for text in texts)
    held = best >= threshold
    passed = held != assertion.inverse
    score = best if not assertion.inverse else 1 - best
    return passed, score, f"similarity {best:.2f} is {'at or above' if assertion.inverse else 'below'} {threshold:g}"


def _cost(assertion: Assertion, output: str, facts: RunFacts) -> tuple[bool, float, str]:
    if assertion.threshold is None:
        raise _CannotCheck("a cost assertion needs a threshold")
    if facts.cost is None:
        raise _CannotCheck("the provider returned no cost")
    return _verdict(assertion, facts.cost <= assertion.threshold, f"cost at most {assertion.threshold:g}")


def _latency(assertion: Assertion, output: str, facts: RunFacts) -> tuple[bool, float, str]:
    if assertion.threshold is None:
        raise _CannotCheck("a latency assertion needs a threshold in milliseconds")
    if facts.latency_ms is None or facts.cache_hit:
        raise _CannotCheck("a latency assertion needs an answer that was not cached (run with --no-cache)")
    return _verdict(assertion, facts.latency_ms <= assertion.threshold, f"answer within {assertion.threshold:g} ms")


_CHECKS: dict[str, Check] = {
    "equals": _equals,
    "contains": _contains,
    "icontains": _icontains,
    "contains-any": _containing(any, str, "contain one of"),
    "contains-all": _containing(all, str, "contain all of"),
    "icontains-any": _containing(any, str.lower, "contain one of"),
    "icontains-all": _containing(all, str.lower, "contain all of"),
    "regex": _regex,
    "starts-with": _starts_with,
    "is-json": _is_json,
    "contains-json": _contains_json,
    "similar": _similar,
    "cost": _cost,
    "latency": _latency,
}
RUBRIC = "llm-rubric"
ASSERTION_TYPES = (*_CHECKS, RUBRIC)


def combine(assertions: Sequence[Assertion], results: Mapping[str, EvalResult], threshold: float | None) -> EvalResult:
    """The test's verdict from its assertions' results, as promptfoo's AssertionsResult computes it."""
    if not assertions:
        return EvalResult(1.0, True, None)
    total_score = total_weight = 0.0
    failed: str | None = None
    for assertion in assertions:
        result = results.get(assertion.evaluator_name) or EvalResult(error="not scored")
        passed = assertion.weight == 0 or (bool(result.passed) and result.error is None)
        total_score += (result.value or 0.0) * assertion.weight
        total_weight += assertion.weight
        if not passed:
            failed = f"{assertion.label}: {result.reason or result.error or 'failed'}"
    score = total_score / total_weight if total_weight > 0 else 0.0
    if threshold is not None and not math.isnan(threshold):
        passed = score >= threshold
        return EvalResult(score, passed, None if passed else f"aggregate score {score:.2f} < {threshold:g} threshold")
    return EvalResult(score, failed is None, failed)


@dataclass(frozen=True, eq=False, repr=False)
class AssertionScore(Evaluator):
    """The score of the row's assertion named ``label``; rows without it are not scored."""

    label: str = ""
    reads_run = True

    def applies(self, row: RowMapping) -> bool:
        return _row_assertion(row, self.label) is not None

    def evaluate_run(self, output: str | None, row: RowMapping, parsed: Any, facts: RunFacts) -> EvalResult:
        assertion = _row_assertion(row, self.label)
        if assertion is None:
            return EvalResult(error=f"the row has no assertion {self.label!r}")
        if output is None:
            return EvalResult(error="the run produced no output to evaluate")
        return score_assertion(assertion, output, facts)


@dataclass(frozen=True, eq=False, repr=False)
class RubricAssertion(Judge):
    """An ``llm-rubric`` assertion of the row, graded by the lab's judge; ``not-llm-rubric`` inverts it."""

    label: str = ""
    inverse: bool = False

    def applies(self, row: RowMapping) -> bool:
        return _row_assertion(row, self.label) is not None

    def requests(self, output: str, row: RowMapping) -> list[list[Any]]:
        assertion = _row_assertion(row, self.label)
        rubric = str(assertion.value) if assertion is not None else self.rubric
        return Judge(self.name, self.score, rubric=rubric, model=self.model).requests(output, row)

    def parse(self, judge_text: str | None) -> EvalResult:
        result = super().parse(judge_text)
        if result.error is not None or not self.inverse:
            return result
        passed = not result.passed
        return EvalResult(result.value, passed, result.reason)


@dataclass(frozen=True, eq=False, repr=False)
class TestVerdict(Evaluator):
    """promptfoo's verdict on the row's test: its assertions' results combined (see ``combine``)."""

    reads_run = True

    def applies(self, row: RowMapping) -> bool:
        return ASSERTIONS_KEY in row

    def evaluate_run(self, output: str | None, row: RowMapping, parsed: Any, facts: RunFacts) -> EvalResult:
        """1 when the test passes, else 0 (so the mean is the pass rate); the reason gives promptfoo's score."""
        threshold = row.get(TEST_THRESHOLD_KEY)
        verdict = combine(row_assertions(row), facts.results, None if threshold is None else float(threshold))
        score = f"score {verdict.value:.2f}"
        return EvalResult(
            float(bool(verdict.passed)), verdict.passed, f"{score}: {verdict.reason}" if verdict.reason else score
        )


def assertion_evaluator(label: str) -> Evaluator:
    """The evaluator ``assert:LABEL``."""
    if not label:
        raise InvalidEvaluator("it needs the label of an assertion, e.g. assert:icontains:paris.")
    name = SPEC_PREFIX + label
    kind = label.split(":", 1)[0].split("@", 1)[0]
    if kind.removeprefix("not-") != RUBRIC:
        return AssertionScore(name, _unscored, label=label)
    threshold = _LABEL_THRESHOLD.search(label)
    return RubricAssertion(
        name,
        _unscored,
        rubric=label,
        threshold=float(threshold.group(1)) if threshold else RUBRIC_THRESHOLD,
        label=label,
        inverse=kind.startswith("not-"),
    )


def test_verdict() -> Evaluator:
    return TestVerdict(TEST_VERDICT, _unscored)


def _unscored(output: str, row: RowMapping, parsed: Any) -> EvalResult:
    return EvalResult(error="a promptfoo assertion is scored with the run's facts: use evaluate_run")
