"""YAML files read with their positions, so that a mistake found after parsing (a schema error, an
unknown provider) still names the line and column where the user wrote it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from promptlab_nb.core.errors import InvalidFile

PathPart = str | int


@dataclass(frozen=True)
class MarkedDocument:
    """A parsed YAML document and the node tree that knows where each value was written."""

    path: Path
    data: Any
    root: yaml.Node | None

    def position(self, where: Sequence[PathPart]) -> tuple[int, int]:
        """The 1-based line and column of the value at ``where`` (keys and list indexes), or of the
        deepest value on the way that exists."""
        node = self.root
        found = node
        for part in where:
            node = _child(node, part)
            if node is None:
                break
            found = node
        if found is None:
            return 1, 1
        return found.start_mark.line + 1, found.start_mark.column + 1

    def key_position(self, where: Sequence[PathPart], key: str) -> tuple[int, int]:
        """The line and column where the mapping at ``where`` names ``key``."""
        node = self.root
        for part in where:
            node = _child(node, part)
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                if key_node.value == key:
                    return key_node.start_mark.line + 1, key_node.start_mark.column + 1
        return self.position(where)

    def error(self, where: Sequence[PathPart], reason: str, key: str | None = None) -> InvalidFile:
        line, column = self.position(where) if key is None else self.key_position(where, key)
        label = describe_path(where)
        return InvalidFile(str(self.path), f"{label}: {reason}" if label else reason, line, column)


def load_marked(path: Path, text: str | None = None) -> MarkedDocument:
    """Parse ``path`` (or ``text`` read from it); a syntax error is an InvalidFile at its position."""
    if text is None:
        text = read_text(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        reason = f"the YAML could not be read: {error.problem or error.context}"
        raise InvalidFile(str(path), reason, *((mark.line + 1, mark.column + 1) if mark else ())) from None
    except yaml.YAMLError as error:
        raise InvalidFile(str(path), f"the YAML could not be read: {error}") from None
    return MarkedDocument(path, data, root)


def read_text(path: Path) -> str:
    if not path.is_file():
        raise InvalidFile(str(path), "no such file")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidFile(str(path), f"it could not be read ({error})") from None


def describe_path(where: Sequence[PathPart]) -> str:
    """``templates[0].body`` for ("templates", 0, "body")."""
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _child(node: yaml.Node | None, part: PathPart) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((value for key, value in node.value if key.value == part), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part]
    return None
