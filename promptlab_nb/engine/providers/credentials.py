"""API keys: found in options or the providers' usual environment variables, never shown."""

from __future__ import annotations

import os
from collections.abc import Sequence


class ApiKey:
    """A secret that reveals itself only to the SDK client: its repr and str are masked."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def scrub(self, text: str) -> str:
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self) -> str:
        return "ApiKey('***')"

    __str__ = __repr__


def find_api_key(configured: str | None, env_vars: Sequence[str]) -> ApiKey | None:
    """The configured key, else the first environment variable that is set."""
    value = configured or first_env_value(env_vars)
    return ApiKey(value) if value else None


def first_env_value(env_vars: Sequence[str]) -> str | None:
    return next((value for variable in env_vars if (value := os.environ.get(variable))), None)
