"""Reading a %%pipeline cell: a YAML list of steps, or a mapping with steps, inputs and description."""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches
from typing import Any

import yaml

from promptlab_nb.core.errors import InvalidPipeline
from promptlab_nb.schemas.definitions import PipelineStep

PIPELINE_KEYS = ("steps", "inputs", "description")


def steps_from_yaml(name: str, text: str, first_line: int = 1) -> dict[str, Any]:
    """The pipeline a cell body describes; ``first_line`` is the editor's line number of the body's first line,
    so that a YAML error names the line the user sees."""
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + first_line}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise InvalidPipeline(name, f"the YAML could not be read{where}: {problem}") from None
    if isinstance(loaded, dict) and "steps" in loaded:
        _check_keys(name, loaded, PIPELINE_KEYS)
        _check_step_keys(name, loaded["steps"])
        return loaded
    if isinstance(loaded, list):
        _check_step_keys(name, loaded)
        return {"steps": loaded}
    raise InvalidPipeline(name, "write a YAML list of steps, e.g.\n- template: extract_facts\n  output: facts")


def _check_step_keys(name: str, steps: Any) -> None:
    for step in steps if isinstance(steps, list) else []:
        if isinstance(step, dict):
            _check_keys(name, step, tuple(PipelineStep.model_fields))


def _check_keys(name: str, mapping: dict[Any, Any], known: Iterable[str]) -> None:
    for key in mapping:
        if key not in known:
            raise InvalidPipeline(name, _unknown_key(str(key), known))


def _unknown_key(key: str, known: Iterable[str]) -> str:
    close = get_close_matches(key, list(known), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(known)}"
    return f"unknown key {key!r} ({hint})"
