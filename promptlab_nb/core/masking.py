"""Settings shown without their secrets: keys, tokens and passwords become *** in every repr."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from traitlets import Dict, Unicode

MASK = "***"
_SECRET_NAME = re.compile(r"key|token|secret|password|passwd|authorization|credential", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"^([^:/?#]+://[^:/@?#]*:)[^?#]*@")
_QUERY_SECRET = re.compile(r"([?&][^=&#]*(?:key|token|secret|password)[^=&#]*=)[^&#]*", re.IGNORECASE)


def masked(value: Any) -> Any:
    """``value`` safe to show: options named like a key, token, secret or password become ***,
    and so does the password of every URL in it."""
    if isinstance(value, Mapping):
        return {key: MASK if _SECRET_NAME.search(str(key)) else masked(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(item) for item in value]
    if isinstance(value, str):
        return _QUERY_SECRET.sub(rf"\1{MASK}", _URL_PASSWORD.sub(rf"\1{MASK}@", value))
    return value


class MaskedText(str):
    """A setting's text whose repr hides a password, as ``%config`` and the notebook show it."""

    def __repr__(self) -> str:
        return repr(masked(str(self)))


class MaskedOptions(dict):
    """Settings' options whose repr hides keys, tokens and passwords, as ``%config`` and the notebook show them."""

    def __repr__(self) -> str:
        return repr(masked(dict(self)))


class SecretUnicode(Unicode):
    def validate(self, obj, value):
        return MaskedText(super().validate(obj, value))


class SecretDict(Dict):
    def validate(self, obj, value):
        validated = super().validate(obj, value)
        return None if validated is None else MaskedOptions(validated)
