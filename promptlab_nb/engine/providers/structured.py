"""What comes back: JSON parsed when asked, finish reasons in one vocabulary."""

from __future__ import annotations

import json
from typing import Any

FINISHED = "stop"
TRUNCATED = "length"
FILTERED = "content_filter"
CALLED_TOOL = "tool_calls"


def parse_json_if_asked(text: str, response_format: str | dict[str, Any] | None) -> Any:
    """The JSON value of ``text`` when a JSON response was requested, else None."""
    if response_format is None:
        return None
    try:
        return json.loads(_without_code_fence(text))
    except ValueError:
        return None


def _without_code_fence(text: str) -> str:
    stripped = text.strip()
    if not stripped.startswith("```"):
        return stripped
    body = stripped.split("\n", 1)[1] if "\n" in stripped else ""
    return body.removesuffix("```").strip()


def json_schema_of(response_format: str | dict[str, Any] | None) -> dict[str, Any] | None:
    """The JSON schema asked for, or None for free text or any JSON object."""
    return response_format if isinstance(response_format, dict) else None


def schema_name(schema: dict[str, Any]) -> str:
    title = str(schema.get("title") or "response")
    return "".join(character if character.isalnum() or character in "_-" else "_" for character in title)[:64]
