"""Pairwise judges' verdicts in the store: the pairs of runs to judge, and the verdicts given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import aliased

from promptlab_nb.core.vocabulary import RunStatus
from promptlab_nb.schemas.experiment_records import VariantRecord
from promptlab_nb.store.bulk import insert_records
from promptlab_nb.store.models import ExperimentRow, PairwiseVerdict, Run, Variant

VERDICT_COLUMNS = [
    "judge",
    "row_index",
    "variant_a",
    "variant_b",
    "a_first",
    "b_first",
    "winner",
    "reason",
    "error",
    "cost",
    "created_at",
]


@dataclass(frozen=True, slots=True)
class RunPair:
    """The runs of variants a and b on one row and repeat, with their outputs and the row's inputs."""

    row_index: int
    run_a: dict[str, Any]
    run_b: dict[str, Any]
    inputs: dict[str, Any]


class VerdictService:
    def __init__(self, session):
        self.session = session

    def pairs(self, experiment_id: str, a: VariantRecord, b: VariantRecord) -> list[RunPair]:
        """The runs of ``a`` and ``b`` matched by row and repeat, in row order."""
        query = (
            select(Run.id, Run.variant_id, Run.row_index, Run.repeat, Run.status, Run.output, ExperimentRow.inputs)
            .join(
                ExperimentRow,
                (ExperimentRow.experiment_id == Run.experiment_id) & (ExperimentRow.row_index == Run.row_index),
            )
            .where(Run.experiment_id == experiment_id, Run.variant_id.in_([a.id, b.id]))
            .order_by(Run.row_index, Run.repeat)
        )
        cells: dict[tuple[int, int], dict[str, dict[str, Any]]] = {}
        inputs: dict[int, dict[str, Any]] = {}
        for run_id, variant_id, row_index, repeat, status, output, row in self.session.execute(query):
            ok = status == RunStatus.OK
            cells.setdefault((row_index, repeat), {})[variant_id] = {"id": run_id, "ok": ok, "output": output}
            inputs[row_index] = row or {}
        return [
            RunPair(row_index, runs[a.id], runs[b.id], inputs[row_index])
            for (row_index, _), runs in cells.items()
            if a.id in runs and b.id in runs
        ]

    def replace(self, experiment_id: str, judge: str, a: VariantRecord, b: VariantRecord, records: list[dict]) -> None:
        """Store ``judge``'s verdicts between ``a`` and ``b``, replacing its earlier ones for that pair."""
        same_pair = or_(
            and_(PairwiseVerdict.variant_a_id == a.id, PairwiseVerdict.variant_b_id == b.id),
            and_(PairwiseVerdict.variant_a_id == b.id, PairwiseVerdict.variant_b_id == a.id),
        )
        self.session.execute(
            delete(PairwiseVerdict).where(
                PairwiseVerdict.experiment_id == experiment_id, PairwiseVerdict.judge == judge, same_pair
            )
        )
        insert_records(self.session.connection(), PairwiseVerdict.__table__, records)

    def frame(self, experiment_id: str, judge: str | None = None) -> pd.DataFrame:
        """Every stored verdict (of ``judge``), with the variants' labels; ``winner`` is None for a tie."""
        variant_a, variant_b, winner = aliased(Variant), aliased(Variant), aliased(Variant)
        query = (
            select(
                PairwiseVerdict.judge,
                PairwiseVerdict.row_index,
                variant_a.label,
                variant_b.label,
                PairwiseVerdict.a_first,
                PairwiseVerdict.b_first,
                winner.label,
                PairwiseVerdict.reason,
                PairwiseVerdict.error,
                PairwiseVerdict.cost,
                PairwiseVerdict.created_at,
            )
            .join(variant_a, variant_a.id == PairwiseVerdict.variant_a_id)
            .join(variant_b, variant_b.id == PairwiseVerdict.variant_b_id)
            .outerjoin(Run, Run.id == PairwiseVerdict.winner_run_id)
            .outerjoin(winner, winner.id == Run.variant_id)
            .where(PairwiseVerdict.experiment_id == experiment_id)
        )
        if judge is not None:
            query = query.where(PairwiseVerdict.judge == judge)
        rows = self.session.execute(query.order_by(PairwiseVerdict.row_index, PairwiseVerdict.created_at)).all()
        frame = pd.DataFrame([tuple(row) for row in rows], columns=VERDICT_COLUMNS, dtype=object)
        return frame.astype({"row_index": "int64"})
