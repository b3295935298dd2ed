"""Expanding an experiment: variants (target x model x params) x rows x repeats."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class VariantPlan:
    """One column of the comparison: a pinned target version with a model and params."""

    kind: str
    target_name: str
    target_version: int
    target_version_id: str
    model: str | None
    params: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    def stored_fields(self) -> dict[str, Any]:
        """What a stored variant keeps of its plan."""
        return {
            "label": self.label,
            "kind": self.kind,
            "target_name": self.target_name,
            "target_version": self.target_version,
            "target_version_id": self.target_version_id,
            "model": self.model,
            "params": self.params,
        }


@dataclass(frozen=True, slots=True)
class Cell:
    variant_index: int
    row_index: int
    repeat: int


def params_label(params: dict[str, Any]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(params.items()))


def label_variants(variants: Sequence[VariantPlan], *, show_model: bool, show_params: bool) -> list[VariantPlan]:
    """Readable unique labels: the pinned target, plus the model and params where the user varied them."""
    labelled = []
    for variant in variants:
        parts = [f"{variant.target_name}@{variant.target_version}"]
        if show_model and variant.model:
            parts.append(variant.model)
        if show_params and variant.params:
            parts.append(params_label(variant.params))
        labelled.append(_with_label(variant, " | ".join(parts)))
    return _deduplicated(labelled)


def _with_label(variant: VariantPlan, label: str) -> VariantPlan:
    return VariantPlan(**{**variant.__dict__, "label": label})


def _deduplicated(variants: list[VariantPlan]) -> list[VariantPlan]:
    counts: dict[str, int] = {}
    result = []
    for variant in variants:
        counts[variant.label] = counts.get(variant.label, 0) + 1
        suffix = f" #{counts[variant.label]}" if counts[variant.label] > 1 else ""
        result.append(_with_label(variant, variant.label + suffix))
    return result


def cells(variant_count: int, row_count: int, repeats: int) -> Iterator[Cell]:
    """Row-major order, so the first rows of every variant finish first and compare early."""
    for row_index in range(row_count):
        for repeat in range(repeats):
            for variant_index in range(variant_count):
                yield Cell(variant_index, row_index, repeat)
