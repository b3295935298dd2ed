"""Prompt templates: role lines split the body into chat messages; each part is Jinja2 in a sandbox.

The body is split on role lines *before* rendering, so a value from the data can never
forge a new message by containing a line such as ``assistant:``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from promptlab_nb.core.errors import InvalidTemplate, MissingVariables, RenderFailed, UnsafeTemplateOperation
from promptlab_nb.engine.providers.base import Message

ROLES = ("system", "user", "assistant")
_ROLE_LINE = re.compile(r"^[ \t]*(system|user|assistant)[ \t]*:[ \t]*$", re.IGNORECASE | re.MULTILINE)


def _environment() -> ImmutableSandboxedEnvironment:
    environment = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    environment.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": True}
    return environment


_ENVIRONMENT = _environment()


@dataclass(frozen=True)
class _Part:
    role: str
    source: str
    first_line: int


def split_roles(body: str) -> list[_Part]:
    """Cut the body at role lines; text before the first role line (or a body without any) is a user message."""
    parts: list[_Part] = []
    role, start, line = "user", 0, 1
    for found in _ROLE_LINE.finditer(body):
        parts.append(_Part(role, body[start : found.start()], line))
        role = found.group(1).lower()
        start = found.end() + 1
        line = body.count("\n", 0, start) + 1
    parts.append(_Part(role, body[start:], line))
    return [part for part in parts if part.source.strip() or part.role != "user" or len(parts) == 1]


class PromptTemplate:
    """A compiled template body: knows its variables and renders chat messages."""

    def __init__(self, body: str, name: str = "template"):
        self.name = name
        self.body = body
        self._parts = split_roles(body)
        self._compiled = [self._compile(part) for part in self._parts]
        self.variables: list[str] = sorted(set().union(*(names for _, names in self._compiled)))

    def _compile(self, part: _Part):
        try:
            tree = _ENVIRONMENT.parse(part.source)
        except TemplateSyntaxError as error:
            line = part.first_line + (error.lineno or 1) - 1
            raise InvalidTemplate(self.name, error.message or "syntax error", line) from None
        return _ENVIRONMENT.from_string(tree), meta.find_undeclared_variables(tree) - _ENVIRONMENT.globals.keys()

    @property
    def roles(self) -> list[str]:
        return [part.role for part in self._parts]

    def render(self, variables: Mapping[str, Any] | None = None, /, **kwargs: Any) -> list[Message]:
        values = {**(variables or {}), **kwargs}
        missing = set(self.variables) - values.keys()
        if missing:
            raise MissingVariables(missing, available=values.keys(), where=f"Template {self.name!r}")
        return [
            {"role": part.role, "content": self._render_part(compiled, values).strip()}
            for part, (compiled, _) in zip(self._parts, self._compiled, strict=True)
        ]

    def _render_part(self, compiled, values: Mapping[str, Any]) -> str:
        try:
            return compiled.render(values)
        except SecurityError as error:
            raise UnsafeTemplateOperation(str(error)) from None
        except UndefinedError as error:
            raise RenderFailed(self.name, f"{error.message}; check the data given for this row") from None
        except Exception as error:
            raise RenderFailed(self.name, f"{type(error).__name__}: {error}") from None


@lru_cache(maxsize=512)
def compile_template(body: str, name: str = "template") -> PromptTemplate:
    return PromptTemplate(body, name)
