"""The public ``evals`` namespace: evaluator constructors, spec parsing and the result type.

Statistics on scores live in ``promptlab_nb.evaluation.statistics``.
"""

from promptlab_nb.evaluation.evaluators import (
    EvalResult,
    Evaluator,
    contains,
    contains_all,
    contains_any,
    custom,
    equals,
    exact,
    json_schema,
    json_valid,
    length,
    numeric_close,
    regex,
    similarity,
)
from promptlab_nb.evaluation.judge import Judge, judge
from promptlab_nb.evaluation.pairwise import PairwiseJudge, pairwise
from promptlab_nb.evaluation.specs import as_evaluator, parse_spec
from promptlab_nb.evaluation.statistics import sample_size

__all__ = [
    "EvalResult",
    "Evaluator",
    "Judge",
    "PairwiseJudge",
    "as_evaluator",
    "contains",
    "contains_all",
    "contains_any",
    "custom",
    "equals",
    "exact",
    "json_schema",
    "json_valid",
    "judge",
    "length",
    "numeric_close",
    "pairwise",
    "parse_spec",
    "regex",
    "sample_size",
    "similarity",
]
