"""Experiments as the API shows them: the store's list with each best variant, a summary, pages of runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from promptlab_nb.core.errors import ExperimentNotFound
from promptlab_nb.display.records import frame_records
from promptlab_nb.schemas.api import ExperimentDetail, ExperimentList, ExperimentSummary, RunsPage

if TYPE_CHECKING:
    import pandas as pd

    from promptlab_nb._lab import Lab


def _top_variants(summary: pd.DataFrame | None) -> list[str]:
    """The variants with the best score of the first evaluator: one, several when they tie, none without scores."""
    if summary is None:
        return []
    marks = [column for column in summary.columns if str(column).endswith(" vs best")]
    if not marks or not (summary[marks[0]] == "best").any():
        return []
    scores = summary[marks[0].removesuffix(" vs best")]
    return [str(variant) for variant in summary.index[np.isclose(scores, scores.max(), rtol=0.0, atol=1e-12)]]


def _with_best(listed: dict[str, Any], top: list[str]) -> ExperimentSummary:
    return ExperimentSummary(
        **listed, best_variant=top[0] if len(top) == 1 else None, tied_variants=top if len(top) > 1 else []
    )


def _summary_of(lab: Lab, listed: dict[str, Any]) -> pd.DataFrame | None:
    return lab.experiment(listed["name"]).summary() if listed["runs"] else None


class BestVariants:
    """Each experiment's best variant, its summary recomputed only when its runs, scores or ratings changed:
    the sidebar lists experiments after every executed cell."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[tuple[Any, ...], list[str]]] = {}

    def of(self, lab: Lab, listed: list[dict[str, Any]]) -> dict[str, list[str]]:
        from promptlab_nb.services.results import summary_versions

        with lab.db.connection() as connection:
            versions = summary_versions(connection)
        self._known = {name: known for name, known in self._known.items() if name in versions}
        for row in listed:
            version = versions.get(row["name"], ())
            if row["name"] not in self._known or self._known[row["name"]][0] != version:
                self._known[row["name"]] = (version, _top_variants(_summary_of(lab, row)))
        return {name: top for name, (_, top) in self._known.items()}


def experiment_list(lab: Lab, best_variants: BestVariants) -> ExperimentList:
    listed = frame_records(lab.experiments())
    top = best_variants.of(lab, listed)
    return ExperimentList(experiments=[_with_best(row, top[row["name"]]) for row in listed])


def experiment_detail(lab: Lab, name: str) -> ExperimentDetail:
    found = [row for row in frame_records(lab.experiments()) if row["name"] == name]
    if not found:
        raise ExperimentNotFound(name)
    listed = found[0]
    summary = _summary_of(lab, listed)
    return ExperimentDetail(
        experiment=_with_best(listed, _top_variants(summary)),
        summary=frame_records(summary.reset_index()) if summary is not None else [],
    )


def runs_page(lab: Lab, name: str, offset: int, limit: int) -> RunsPage:
    from promptlab_nb.services.results import run_count, runs_page_frame

    experiment_id = lab.experiment(name).id
    with lab.db.connection() as connection:
        total = run_count(connection, experiment_id)
        page = runs_page_frame(connection, experiment_id, offset, limit)
    return RunsPage(experiment=name, total=total, offset=offset, limit=limit, runs=frame_records(page))
