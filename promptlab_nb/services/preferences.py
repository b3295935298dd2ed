"""People's preferences between two outputs of the same row, as the blind view showed them."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import select

from promptlab_nb.core.errors import InvalidData, RunNotFound
from promptlab_nb.core.ids import new_id, utcnow
from promptlab_nb.store.models import Preference, Run, Variant

PREFERENCE_COLUMNS = ["row_index", "left_variant", "right_variant", "preferred_variant", "note", "created_at"]


class PreferenceService:
    def __init__(self, session):
        self.session = session

    def prefer(
        self, experiment_id: str, left_run_id: str, right_run_id: str, preferred_run_id: str | None, note: str | None
    ) -> dict[str, Any]:
        """Store which of two runs of one row a person preferred (None: a tie)."""
        runs = self._runs(experiment_id, [left_run_id, right_run_id])
        left, right = runs[left_run_id], runs[right_run_id]
        _check_comparable(left, right)
        if preferred_run_id not in (None, left_run_id, right_run_id):
            raise InvalidData("Prefer one of the two runs shown, or None for a tie.")
        self.session.add(
            Preference(
                id=new_id(),
                experiment_id=experiment_id,
                row_index=left["row_index"],
                left_run_id=left_run_id,
                right_run_id=right_run_id,
                preferred_run_id=preferred_run_id,
                note=note,
                created_at=utcnow(),
            )
        )
        return {"row_index": left["row_index"], "preferred_run_id": preferred_run_id, "note": note}

    def frame(self, experiment_id: str) -> pd.DataFrame:
        """Every preference with the variants of its runs, newest last; ``preferred_variant`` is None
        for a tie."""
        left_variant = select(Variant.label).join(Run, Run.variant_id == Variant.id)
        query = select(
            Preference.row_index,
            left_variant.where(Run.id == Preference.left_run_id).scalar_subquery().label("left_variant"),
            left_variant.where(Run.id == Preference.right_run_id).scalar_subquery().label("right_variant"),
            left_variant.where(Run.id == Preference.preferred_run_id).scalar_subquery().label("preferred_variant"),
            Preference.note,
            Preference.created_at,
        ).where(Preference.experiment_id == experiment_id)
        rows = self.session.execute(query.order_by(Preference.created_at, Preference.id)).all()
        frame = pd.DataFrame([tuple(row) for row in rows], columns=PREFERENCE_COLUMNS, dtype=object)
        return frame.astype({"row_index": "int64"})

    def picks(self, experiment_id: str, row_indexes: list[int]) -> dict[frozenset[str], str | None]:
        """The latest pick between each pair of runs of ``row_indexes`` (either side order): the preferred
        run id, or None for a tie."""
        query = (
            select(Preference.left_run_id, Preference.right_run_id, Preference.preferred_run_id)
            .where(Preference.experiment_id == experiment_id, Preference.row_index.in_(row_indexes))
            .order_by(Preference.created_at, Preference.id)
        )
        return {frozenset((left, right)): preferred for left, right, preferred in self.session.execute(query)}

    def _runs(self, experiment_id: str, run_ids: list[str]) -> dict[str, dict[str, Any]]:
        query = select(Run.id, Run.row_index, Run.variant_id).where(
            Run.experiment_id == experiment_id, Run.id.in_(run_ids)
        )
        found = {
            run_id: {"row_index": row_index, "variant_id": variant}
            for run_id, row_index, variant in self.session.execute(query)
        }
        for run_id in run_ids:
            if run_id not in found:
                raise RunNotFound(run_id)
        return found


def _check_comparable(left: dict[str, Any], right: dict[str, Any]) -> None:
    if left["row_index"] != right["row_index"]:
        raise InvalidData("A preference compares two outputs of the same data row; these runs are of different rows.")
    if left["variant_id"] == right["variant_id"]:
        raise InvalidData("A preference compares two variants; both runs are of the same variant.")
