"""Variant names a person would type. A variant's label pins its target and adds what was varied
(``triage@1 | openai:gpt-4o | temperature=0``); any part of it names the variant when no other
variant shares that part: ``triage`` for ``triage@1``, or the model alone."""

from __future__ import annotations

from collections.abc import Sequence

from promptlab_nb.core import errors

LABEL_PARTS = " | "
COPY_MARK = " #"


def resolve_variant(name: str, labels: Sequence[str]) -> str:
    """The label ``name`` stands for among ``labels``: itself, or the one label it is a part of.
    ``VariantNotFound`` names the variants; ``AmbiguousVariant`` lists those ``name`` could mean."""
    if name in labels:
        return name
    matches = [label for label in labels if name.strip() in names_of(label)]
    if not matches:
        raise errors.VariantNotFound(name, labels)
    if len(matches) > 1:
        raise errors.AmbiguousVariant(name, matches)
    return matches[0]


def names_of(label: str) -> set[str]:
    """What a person may call the variant ``label``: the pinned target, its name without the version,
    and each model or params part."""
    target, *varied = label.partition(COPY_MARK)[0].split(LABEL_PARTS)
    return {target, target.partition("@")[0], *varied}
