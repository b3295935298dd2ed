"""The experiment file's JSON Schema, checked with the keywords it uses and nothing more.

``jsonschema`` takes over a second to import where its format checkers' grammars are installed (as
with Jupyter), which would be most of a cached ``promptlab run``; the schema needs only ``type``,
``properties``, ``additionalProperties``, ``required``, ``items``, ``anyOf``, ``oneOf``, ``minItems``,
``minLength``, ``maxLength``, ``pattern`` and ``minimum`` (tests/test_cli_schema.py checks that the
answers agree with jsonschema's). Like jsonschema's ``best_match``, a value that fits none of the
choices of a ``oneOf`` is reported against the choice of its own type, at the deepest place found.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PathPart = str | int
KEYWORDS = frozenset(
    {
        *("type", "properties", "additionalProperties", "required", "items", "anyOf", "oneOf"),
        *("minItems", "minLength", "maxLength", "pattern", "minimum"),
        *("$schema", "$id", "title", "description"),
    }
)
_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
}


@dataclass(frozen=True)
class SchemaError:
    path: list[PathPart]
    message: str
    keyword: str
    unknown_key: str | None = None
    known_keys: tuple[str, ...] = ()


def first_error(schema: Mapping[str, Any], instance: Any, path: list[PathPart] | None = None) -> SchemaError | None:
    """The most telling error of ``instance`` against ``schema``, or None when it is valid."""
    path = path or []
    expected = schema.get("type")
    if expected is not None and not _is_type(instance, expected):
        return SchemaError(path, f"{_shown(instance)} is not of type {expected!r}", "type")
    for check in (_choices, _object, _array, _text, _number):
        error = check(schema, instance, path)
        if error is not None:
            return error
    return None


def _is_type(instance: Any, expected: str) -> bool:
    if isinstance(instance, bool) and expected in ("integer", "number"):
        return False
    return isinstance(instance, _TYPES[expected])


def _choices(schema: Mapping[str, Any], instance: Any, path: list[PathPart]) -> SchemaError | None:
    for keyword in ("anyOf", "oneOf"):
        if keyword not in schema:
            continue
        errors = [first_error(choice, instance, path) for choice in schema[keyword]]
        if any(error is None for error in errors):
            continue
        fitting = [
            error
            for choice, error in zip(schema[keyword], errors, strict=True)
            if "type" not in choice or _is_type(instance, choice["type"])
        ]
        if fitting and keyword == "oneOf":
            return max((error for error in fitting if error), key=lambda error: len(error.path))
        return SchemaError(path, f"{_shown(instance)} is not valid under any of the given schemas", keyword)
    return None


def _object(schema: Mapping[str, Any], instance: Any, path: list[PathPart]) -> SchemaError | None:
    if not isinstance(instance, dict):
        return None
    properties = schema.get("properties", {})
    if schema.get("additionalProperties") is False:
        for key in instance:
            if key not in properties:
                return SchemaError(path, f"unknown key {key!r}", "additionalProperties", str(key), tuple(properties))
    for key in schema.get("required", []):
        if key not in instance:
            return SchemaError(path, f"{key!r} is a required property", "required")
    for key, value in instance.items():
        if key in properties:
            error = first_error(properties[key], value, [*path, key])
            if error is not None:
                return error
    return None


def _array(schema: Mapping[str, Any], instance: Any, path: list[PathPart]) -> SchemaError | None:
    if not isinstance(instance, list):
        return None
    if len(instance) < schema.get("minItems", 0):
        return SchemaError(path, f"{_shown(instance)} should be non-empty", "minItems")
    for index, item in enumerate(instance):
        error = first_error(schema["items"], item, [*path, index]) if "items" in schema else None
        if error is not None:
            return error
    return None


def _text(schema: Mapping[str, Any], instance: Any, path: list[PathPart]) -> SchemaError | None:
    if not isinstance(instance, str):
        return None
    if len(instance) < schema.get("minLength", 0):
        return SchemaError(path, f"{_shown(instance)} should be non-empty", "minLength")
    if "maxLength" in schema and len(instance) > schema["maxLength"]:
        return SchemaError(path, f"{_shown(instance)} is longer than {schema['maxLength']} characters", "maxLength")
    if "pattern" in schema and re.search(schema["pattern"], instance) is None:
        return SchemaError(path, f"{_shown(instance)} does not match {schema['pattern']!r}", "pattern")
    return None


def _number(schema: Mapping[str, Any], instance: Any, path: list[PathPart]) -> SchemaError | None:
    if isinstance(instance, bool) or not isinstance(instance, int | float) or "minimum" not in schema:
        return None
    if instance < schema["minimum"]:
        return SchemaError(path, f"{instance!r} is less than the minimum of {schema['minimum']}", "minimum")
    return None


def unknown_keywords(schema: Any) -> set[str]:
    """Keywords of ``schema`` this checker does not apply (the shipped schema must have none)."""
    if isinstance(schema, list):
        return set().union(*(unknown_keywords(item) for item in schema))
    if not isinstance(schema, dict):
        return set()
    found = {key for key in schema if key not in KEYWORDS}
    nested = [
        *schema.get("properties", {}).values(),
        schema.get("items"),
        *schema.get("anyOf", []),
        *schema.get("oneOf", []),
    ]
    return found.union(*(unknown_keywords(item) for item in nested if item is not None))


def _shown(instance: Any) -> str:
    text = repr(instance)
    return text if len(text) <= 60 else text[:59] + "…"
