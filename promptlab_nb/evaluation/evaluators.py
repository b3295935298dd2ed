"""Evaluators: each scores one model output against its data row and returns an ``EvalResult``.

Constructors check their arguments at once (a regex that does not compile, a schema that
is not a JSON Schema), so a mistake is reported before any run. While an experiment runs,
an evaluator never raises: a failure to score one output becomes ``EvalResult(error=...)``.

Checks score 1.0 (passed) or 0.0 (failed); ``similarity`` and ``judge`` score 0..1 and pass
at a threshold; a custom function may return a bare number, which has no pass/fail.
"""

from __future__ import annotations

import importlib
import json
import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rapidfuzz import fuzz

from promptlab_nb.core.errors import InvalidEvaluator

RowMapping = Mapping[str, Any]
Scorer = Callable[[str, RowMapping, Any], "EvalResult"]
MAX_NAME_LENGTH = 200
RESERVED_NAMES = frozenset(
    {
        *("run_id", "variant", "kind", "target", "target_version", "model", "params", "row_index", "repeat"),
        *("status", "output", "parsed", "error", "failed_step", "latency_ms", "input_tokens", "output_tokens"),
        *("cost", "cache_hit", "mode", "started_at", "finished_at", "inputs", "rating", "rating_note"),
        *("runs", "error_rate", "latency_p50_ms", "latency_p95_ms", "cache_hits"),
    }
)
"""Columns of ``exp.runs`` and ``exp.summary()``: a score column of that name would hide them."""
NAME_TEXT_LENGTH = 60
_NUMBER = re.compile(r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True, slots=True)
class EvalResult:
    """One score: ``value`` (usually 0..1), ``passed``, a ``reason`` to show, or the ``error`` that prevented it."""

    value: float | None = None
    passed: bool | None = None
    reason: str | None = None
    error: str | None = None


@dataclass(frozen=True, eq=False)
class Evaluator:
    """A named scoring rule. ``columns_needed`` are the data columns it reads."""

    name: str
    score: Scorer
    columns_needed: tuple[str, ...] = ()
    needs_model = False

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > MAX_NAME_LENGTH:
            raise InvalidEvaluator(f"An evaluator name needs 1 to {MAX_NAME_LENGTH} characters, got {self.name!r}.")
        if self.name in RESERVED_NAMES:
            raise InvalidEvaluator(
                f"An evaluator cannot be named {self.name!r}: that is a column of exp.runs or exp.summary(); "
                f"give it another name, e.g. name={self.name + '_score'!r}."
            )

    def validate(self, columns: Iterable[str]) -> None:
        """Raise InvalidEvaluator when the data lacks a column this evaluator reads."""
        available = list(columns)
        missing = [column for column in self.columns_needed if column not in available]
        if missing:
            raise InvalidEvaluator(
                f"Evaluator {self.name!r} needs the data column(s) {', '.join(map(repr, missing))}; "
                f"the data has: {', '.join(map(repr, available)) or '(no columns)'}."
            )

    def applies(self, row: RowMapping) -> bool:
        """Whether this evaluator scores runs of ``row``: an imported promptfoo assertion scores only the
        rows of its test."""
        return True

    def evaluate(self, output: str | None, row: RowMapping, parsed: Any = None) -> EvalResult:
        if output is None:
            return EvalResult(error="the run produced no output to evaluate")
        try:
            return self.score(output, row, parsed)
        except Exception as error:  # an evaluator failing on one output must not stop the experiment
            return EvalResult(error=f"{self.name} failed: {type(error).__name__}: {error}")

    def __repr__(self) -> str:
        return f"<evaluator {self.name}>"


def _verdict(passed: bool, reason_if_failed: str) -> EvalResult:
    return EvalResult(value=float(passed), passed=passed, reason=None if passed else reason_if_failed)


def exact(expected: str | None = None, *, column: str | None = None) -> Evaluator:
    """The output equals ``expected`` (or the row's ``column``) exactly, apart from surrounding whitespace."""
    if (expected is None) == (column is None):
        raise InvalidEvaluator(
            "exact needs either an expected text, exact('Paris'), or a column, exact(column='expected')."
        )
    if column is not None:
        return Evaluator(f"exact:{{{column}}}", _exact_column_scorer(column), (column,))
    target = str(expected).strip()
    return Evaluator(
        f"exact:{shorten(target)}",
        lambda output, row, parsed: _verdict(output.strip() == target, f"expected exactly {target!r}"),
    )


def _exact_column_scorer(column: str) -> Scorer:
    def score(output: str, row: RowMapping, parsed: Any) -> EvalResult:
        target = str(_row_value(row, column)).strip()
        return _verdict(output.strip() == target, f"expected exactly {target!r} ({column})")

    return score


def contains(text: str, case: bool = False) -> Evaluator:
    """The output contains ``text``; case-insensitive unless ``case=True``."""
    return _containment("contains", [text], case, all)


def contains_all(texts: Sequence[str], case: bool = False) -> Evaluator:
    """The output contains every one of ``texts``."""
    return _containment("contains_all", texts, case, all)


def contains_any(texts: Sequence[str], case: bool = False) -> Evaluator:
    """The output contains at least one of ``texts``."""
    return _containment("contains_any", texts, case, any)


def _containment(kind: str, texts: Sequence[str], case: bool, combine: Callable[[Iterable[bool]], bool]) -> Evaluator:
    if isinstance(texts, str) or not texts or not all(isinstance(text, str) and text for text in texts):
        raise InvalidEvaluator(f"{kind} needs non-empty texts to look for, e.g. {kind}(['Paris', 'France']).")
    wanted = list(texts)
    fold = (lambda text: text) if case else str.casefold
    folded = [fold(text) for text in wanted]

    def score(output: str, row: RowMapping, parsed: Any) -> EvalResult:
        found = [text in fold(output) for text in folded]
        missing = [text for text, hit in zip(wanted, found, strict=True) if not hit]
        return _verdict(combine(found), f"not found: {', '.join(map(repr, missing))}")

    suffix = "_case" if case else ""
    return Evaluator(f"{kind}{suffix}:{shorten('|'.join(wanted))}", score)


def regex(pattern: str) -> Evaluator:
    """The output matches ``pattern`` somewhere (``re.search``; anchor with ``^`` and ``$``)."""
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise InvalidEvaluator(f"regex {pattern!r} does not compile: {error}.") from None
    return Evaluator(
        f"regex:{shorten(pattern)}",
        lambda output, row, parsed: _verdict(compiled.search(output) is not None, f"no match for {pattern!r}"),
    )


def json_valid() -> Evaluator:
    """The output is a JSON document (or the provider already returned it parsed)."""

    def score(output: str, row: RowMapping, parsed: Any) -> EvalResult:
        problem = None if parsed is not None else _json_problem(output)
        return _verdict(problem is None, f"not JSON: {problem}")

    return Evaluator("json", score)


def json_schema(schema: Mapping[str, Any] | str, *, name: str = "json_schema") -> Evaluator:
    """The output is JSON valid against ``schema`` (a dict or JSON text, itself checked as a JSON Schema)."""
    checker = _schema_validator(schema)

    def score(output: str, row: RowMapping, parsed: Any) -> EvalResult:
        if parsed is None:
            try:
                parsed = json.loads(output)
            except json.JSONDecodeError as problem:
                return _verdict(False, f"not JSON: {problem}")
        error = _jsonschema().exceptions.best_match(checker.iter_errors(parsed))
        return _verdict(error is None, _schema_error_text(error))

    return Evaluator(name, score)


def _jsonschema():
    """jsonschema, imported on first use: it takes over a second to import."""
    return importlib.import_module("jsonschema")


def _schema_validator(schema: Mapping[str, Any] | str) -> Any:
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except json.JSONDecodeError as error:
            raise InvalidEvaluator(f"json_schema needs a JSON Schema; the text is not JSON: {error}.") from None
    if not isinstance(schema, Mapping | bool):
        raise InvalidEvaluator(f"json_schema needs a JSON Schema object, got {type(schema).__name__}.")
    jsonschema = _jsonschema()
    validator_class = jsonschema.validators.validator_for(schema)
    try:
        validator_class.check_schema(schema)
    except jsonschema.exceptions.SchemaError as error:
        raise InvalidEvaluator(f"json_schema got an invalid JSON Schema: {error.message}.") from None
    return validator_class(schema)


def _schema_error_text(error: Any) -> str:
    if error is None:
        return ""
    where = "/".join(str(part) for part in error.absolute_path)
    return f"{error.message} (at /{where})" if where else error.message


def equals(column: str) -> Evaluator:
    """The output equals the row's ``column``, ignoring case and runs of whitespace.

    Numbers compare as numbers: "42.0" equals 42.
    """

    def score(output: str, row: RowMapping, parsed: Any) -> EvalResult:
        expected = _row_value(row, column)
        return _verdict(_loosely_equal(output, expected), f"expected {str(expected)!r} ({column})")

    return Evaluator(f"equals:{column}", score, (column,))


def _loosely_equal(output: str, expected: Any) -> bool:
    output_number, expected_number = _as_number(output), _as_number(expected)
    if output_number is not None and expected_number is not None:
        return math.isclose(output_number, expected_number, rel_tol=1e-9, abs_tol=0.0)
    return _normalized(output) == _normalized(expected)


def _normalized(value: Any) -> str:
    return " ".join(str(value).split()).casefold()


def numeric_close(column: str, tol: float) -> Evaluator:
    """The number in the output is within ``tol`` (absolute) of the row's ``column``.

    The output is read as a number; failing that, its last number is taken (the usual
    convention for worked answers such as "... so the total is 42.").
    """
    if not (isinstance(tol, numbers.Real) and tol >= 0):
        raise InvalidEvaluator(f"numeric_close needs a tolerance >= 0, got {tol!r}.")

    def score(output: str, row: RowMapping, parsed: Any) -> EvalResult:
        expected = _as_number(_row_value(row, column))
        if expected is None:
            return EvalResult(error=f"the row's {column!r} is not a number")
        found = _number_in(output)
        if found is None:
            return _verdict(False, "no number in the output")
        return _verdict(abs(found - expected) <= tol, f"{found:g} is not within {tol:g} of {expected:g} ({column})")

    return Evaluator(f"numeric:{column}:{tol:g}", score, (column,))


def _number_in(output: str) -> float | None:
    whole = _as_number(output)
    if whole is not None:
        return whole
    found = _NUMBER.findall(output)
    return _as_number(found[-1]) if found else None


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    try:
        return float(str(value).strip().replace(",", "").rstrip("."))
    except ValueError:
        return None


def length(min: int | None = None, max: int | None = None) -> Evaluator:
    """The output has between ``min`` and ``max`` characters (inclusive; either bound may be omitted)."""
    lowest, highest = min, max
    if lowest is None and highest is None:
        raise InvalidEvaluator("length needs min, max or both, e.g. length(10, 200).")
    if any(bound is not None and bound < 0 for bound in (lowest, highest)):
        raise InvalidEvaluator("length bounds must be >= 0.")
    if lowest is not None and highest is not None and lowest > highest:
        raise InvalidEvaluator(f"length min {lowest} is above max {highest}.")

    def score(output: str, row: RowMapping, parsed: Any) -> EvalResult:
        size = len(output)
        too_short = lowest is not None and size < lowest
        too_long = highest is not None and size > highest
        bound = f"below {lowest}" if too_short else f"above {highest}"
        return _verdict(not (too_short or too_long), f"{size} characters, {bound}")

    bounds = f"{'' if lowest is None else lowest}-{'' if highest is None else highest}"
    return Evaluator(f"length:{bounds}", score)


def similarity(column: str, threshold: float = 0.8) -> Evaluator:
    """Score 0..1: rapidfuzz's ``fuzz.ratio`` / 100 of the output and the row's ``column``; passes at ``threshold``.

    The ratio is the normalised Indel similarity: 1 - (insertions + deletions) / total length.
    """
    if not 0 <= threshold <= 1:
        raise InvalidEvaluator(f"similarity threshold must be between 0 and 1, got {threshold}.")

    def score(output: str, row: RowMapping, parsed: Any) -> EvalResult:
        ratio = fuzz.ratio(output.strip(), str(_row_value(row, column)).strip()) / 100
        passed = ratio >= threshold
        return EvalResult(ratio, passed, None if passed else f"similarity {ratio:.2f} below {threshold:g}")

    suffix = "" if threshold == 0.8 else f":{threshold:g}"
    return Evaluator(f"similarity:{column}{suffix}", score, (column,))


def custom(fn: Callable[[str, RowMapping], Any], name: str | None = None) -> Evaluator:
    """Wrap ``fn(output, row)`` returning a bool, a number, ``(score, reason)`` or an EvalResult."""
    if not callable(fn):
        raise InvalidEvaluator(f"custom needs a function (output, row) -> bool | float | (score, reason), got {fn!r}.")
    label = name or _function_name(fn)
    return Evaluator(label, lambda output, row, parsed: _as_result(fn(output, row)))


def _function_name(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "__name__", "")
    return name if name and name != "<lambda>" else "custom"


def _as_result(returned: Any) -> EvalResult:
    if isinstance(returned, EvalResult):
        return returned
    if isinstance(returned, tuple) and len(returned) == 2:
        result = _as_result(returned[0])
        reason = None if returned[1] is None else str(returned[1])
        return EvalResult(result.value, result.passed, reason, result.error)
    if _is_boolean(returned):
        return EvalResult(float(bool(returned)), bool(returned))
    if isinstance(returned, numbers.Real) and math.isfinite(float(returned)):
        return EvalResult(float(returned))
    return EvalResult(error=f"returned {returned!r}; return a bool, a finite number or (score, reason)")


def _is_boolean(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def _row_value(row: RowMapping, column: str) -> Any:
    if column not in row:
        raise ValueError(f"the row has no column {column!r}")
    value = row[column]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError(f"the row's {column!r} is empty")
    return value


def _json_problem(output: str) -> str | None:
    try:
        json.loads(output)
    except json.JSONDecodeError as error:
        return str(error)
    return None


def shorten(text: str, limit: int = NAME_TEXT_LENGTH) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
