"""How a person names one version of a template or pipeline: ``name`` (the newest), ``name@3``,
``name@production`` (a label) or ``name@latest`` (the newest, said out loud)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from promptlab_nb.core import errors

LATEST = "latest"
LABEL_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
NUMBER_LIKE = re.compile(r"[+-]?[0-9]+")


def is_latest(label: str | None) -> bool:
    return isinstance(label, str) and label.lower() == LATEST


def check_label(label: object) -> str:
    """A label a version can be given: letters, digits, ``-`` and ``_``; not a number, not ``latest``."""
    if not isinstance(label, str) or not LABEL_PATTERN.fullmatch(label):
        raise errors.InvalidLabel(str(label), "use letters, digits, '-' and '_' (at most 64), e.g. production")
    if NUMBER_LIKE.fullmatch(label):
        raise errors.InvalidLabel(label, "it reads as a version number; name labels with words, e.g. production")
    if is_latest(label):
        raise errors.InvalidLabel(label, "'latest' always means the newest version; choose another name")
    return label


@dataclass(frozen=True)
class Reference:
    """A name with at most one of a version number and a label; neither means the newest version."""

    name: str
    version: int | None = None
    label: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        name, sep, pin = text.strip().partition("@")
        if not sep:
            return cls(name)
        if pin.isdigit():
            return cls(name, version=int(pin))
        if not pin:
            raise errors.InvalidData(
                f"{text!r}: after @ write a version or a label, e.g. {name}@3 or {name}@production."
            )
        return cls(name) if is_latest(pin) else cls(name, label=check_label(pin))

    def __str__(self) -> str:
        pin = self.version if self.version is not None else self.label
        return self.name if pin is None else f"{self.name}@{pin}"
