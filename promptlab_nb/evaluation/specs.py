"""Evaluator spec strings, as typed after ``--eval``: ``kind`` or ``kind:argument``.

The name of an evaluator built here reads back as the same spec, so a stored score name
can be parsed again; ``judge``, ``pairwise`` and ``json_schema`` are the exceptions, their names
do not carry the rubric or the schema. A ``pairwise`` judge compares two variants' outputs: it is
given to ``exp.pairwise`` or ``exp.ranking``, not run on each output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import promptlab_nb.evaluation.evaluators as ev
from promptlab_nb.core.errors import InvalidEvaluator
from promptlab_nb.evaluation.assertions import assertion_evaluator, test_verdict
from promptlab_nb.evaluation.judge import judge
from promptlab_nb.evaluation.pairwise import PairwiseJudge, pairwise

SPEC_EXAMPLES = {
    "contains": "contains:Paris (case-insensitive; contains_case:Paris is case-sensitive)",
    "contains_all": "contains_all:Paris|France",
    "contains_any": "contains_any:Paris|Lyon",
    "regex": r"regex:^\d+$",
    "json": "json",
    "json_schema": 'json_schema:{"type": "object", "required": ["answer"]}',
    "equals": "equals:expected",
    "exact": "exact:Paris, or exact:{expected} for a column",
    "length": "length:10-200, length:10- or length:-200",
    "similarity": "similarity:expected or similarity:expected:0.7",
    "numeric": "numeric:answer:0.01",
    "judge": 'judge:"The answer is polite."',
    "pairwise": 'pairwise:"The more helpful answer wins."',
}
IMPORTED_FORMS = {
    "assert": "assert:icontains:paris (a promptfoo assertion of the row, as imported)",
    "test": "test (the promptfoo verdict of the row's assertions)",
}
"""Specs written by ``promptlab import promptfoo`` rather than typed: not listed among the forms to type."""


def parse_spec(spec: str) -> ev.Evaluator:
    """Build the evaluator a spec string describes; InvalidEvaluator lists the known kinds otherwise."""
    kind, _, argument = spec.strip().partition(":")
    base_kind = kind.removesuffix("_case")
    builder = _BUILDERS.get(base_kind)
    if builder is None or (kind != base_kind and not base_kind.startswith("contains")):
        raise InvalidEvaluator(f"Unknown evaluator {spec!r}; write one of these forms:\n{_known_forms()}")
    try:
        return builder(argument, kind != base_kind)
    except InvalidEvaluator as error:
        form = SPEC_EXAMPLES.get(base_kind) or IMPORTED_FORMS[base_kind]
        raise InvalidEvaluator(f"Evaluator {spec!r} is not valid: {error} Write it as {form}.") from None


def as_evaluator(obj: Any) -> ev.Evaluator:
    """An Evaluator as is, a spec string parsed, a callable ``(output, row)`` wrapped with ``custom``."""
    if isinstance(obj, ev.Evaluator):
        return obj
    if isinstance(obj, str):
        return parse_spec(obj)
    if callable(obj):
        return ev.custom(obj)
    raise InvalidEvaluator(
        f"{obj!r} is not an evaluator; pass a spec such as 'contains:Paris', an evaluator from "
        "promptlab_nb.evals or a function (output, row) -> bool | float | (score, reason)."
    )


def as_pairwise_judge(obj: Any) -> PairwiseJudge:
    """A pairwise judge as is, or parsed from a ``pairwise:"rubric"`` spec."""
    judge_found = parse_spec(obj) if isinstance(obj, str) else obj
    if not isinstance(judge_found, PairwiseJudge):
        raise InvalidEvaluator(
            f"{obj!r} is not a pairwise judge; pass pl.evals.pairwise(rubric, model=...) or a spec such as "
            f"{SPEC_EXAMPLES['pairwise']}."
        )
    return judge_found


def _known_forms() -> str:
    return "\n".join(f"  {example}" for example in SPEC_EXAMPLES.values())


def _required(argument: str, what: str) -> str:
    if not argument:
        raise InvalidEvaluator(f"it needs {what}.")
    return argument


def _contains(argument: str, case: bool) -> ev.Evaluator:
    return ev.contains(_required(argument, "a text to look for"), case=case)


def _contains_all(argument: str, case: bool) -> ev.Evaluator:
    return ev.contains_all(_required(argument, "texts separated by |").split("|"), case=case)


def _contains_any(argument: str, case: bool) -> ev.Evaluator:
    return ev.contains_any(_required(argument, "texts separated by |").split("|"), case=case)


def _regex(argument: str, case: bool) -> ev.Evaluator:
    return ev.regex(_required(argument, "a pattern"))


def _json(argument: str, case: bool) -> ev.Evaluator:
    if argument:
        raise InvalidEvaluator("it takes no argument.")
    return ev.json_valid()


def _json_schema(argument: str, case: bool) -> ev.Evaluator:
    return ev.json_schema(_required(argument, "a JSON Schema as JSON text"))


def _equals(argument: str, case: bool) -> ev.Evaluator:
    return ev.equals(_required(argument, "a column name"))


def _exact(argument: str, case: bool) -> ev.Evaluator:
    text = _required(argument, "the expected text")
    if text.startswith("{") and text.endswith("}") and len(text) > 2:
        return ev.exact(column=text[1:-1])
    return ev.exact(text)


def _length(argument: str, case: bool) -> ev.Evaluator:
    low, dash, high = _required(argument, "bounds MIN-MAX").partition("-")
    if not dash:
        raise InvalidEvaluator("its bounds need a dash.")
    return ev.length(_optional_int(low), _optional_int(high))


def _similarity(argument: str, case: bool) -> ev.Evaluator:
    column, _, threshold = _required(argument, "a column name").partition(":")
    return ev.similarity(column, _number(threshold)) if threshold else ev.similarity(column)


def _numeric(argument: str, case: bool) -> ev.Evaluator:
    column, _, tolerance = _required(argument, "a column name").partition(":")
    return ev.numeric_close(column, _number(tolerance) if tolerance else 0.0)


def _judge(argument: str, case: bool) -> ev.Evaluator:
    return judge(_unquoted(_required(argument, "a rubric")))


def _pairwise(argument: str, case: bool) -> ev.Evaluator:
    return pairwise(_unquoted(_required(argument, "a rubric")))


def _assert(argument: str, case: bool) -> ev.Evaluator:
    return assertion_evaluator(argument)


def _test(argument: str, case: bool) -> ev.Evaluator:
    if argument:
        raise InvalidEvaluator("it takes no argument.")
    return test_verdict()


def _optional_int(text: str) -> int | None:
    if not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidEvaluator(f"{text!r} is not a whole number.") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidEvaluator(f"{text!r} is not a number.") from None


def _unquoted(text: str) -> str:
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "\"'":
        return stripped[1:-1]
    return stripped


_BUILDERS: dict[str, Callable[[str, bool], ev.Evaluator]] = {
    "contains": _contains,
    "contains_all": _contains_all,
    "contains_any": _contains_any,
    "regex": _regex,
    "json": _json,
    "json_schema": _json_schema,
    "equals": _equals,
    "exact": _exact,
    "length": _length,
    "similarity": _similarity,
    "numeric": _numeric,
    "judge": _judge,
    "pairwise": _pairwise,
    "assert": _assert,
    "test": _test,
}
