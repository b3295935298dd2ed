"""Reading a %%pipeline cell: a YAML list of steps, or a mapping with steps, inputs and description."""

from __future__ import annotations

from typing import Any

import yaml

from promptlab_nb.core.errors import InvalidPipeline


def steps_from_yaml(name: str, text: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise InvalidPipeline(name, f"the YAML could not be read{where}: {problem}") from None
    if isinstance(loaded, list):
        return {"steps": loaded}
    if isinstance(loaded, dict) and "steps" in loaded:
        unknown = set(loaded) - {"steps", "inputs", "description"}
        if unknown:
            raise InvalidPipeline(name, f"unknown keys {', '.join(sorted(unknown))}; use steps, inputs, description")
        return loaded
    raise InvalidPipeline(name, "write a YAML list of steps, e.g.\n- template: extract_facts\n  output: facts")
