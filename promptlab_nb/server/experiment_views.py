"""Experiments as the API shows them: the store's list with each best variant, a summary, pages of runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promptlab_nb.core.errors import ExperimentNotFound
from promptlab_nb.display.records import frame_records
from promptlab_nb.schemas.api import ExperimentDetail, ExperimentList, ExperimentSummary, RunsPage

if TYPE_CHECKING:
    import pandas as pd

    from promptlab_nb._lab import Lab


def _best_variant(summary: pd.DataFrame | None) -> str | None:
    """The variant the first evaluator marks best, when the experiment has runs, evaluators and scores."""
    if summary is None:
        return None
    marks = [column for column in summary.columns if str(column).endswith(" vs best")]
    if not marks:
        return None
    best = summary.index[summary[marks[0]] == "best"]
    return str(best[0]) if len(best) else None


def _summary_of(lab: Lab, listed: dict[str, Any]) -> pd.DataFrame | None:
    return lab.experiment(listed["name"]).summary() if listed["runs"] else None


class BestVariants:
    """Each experiment's best variant, its summary recomputed only when its runs, scores or ratings changed:
    the sidebar lists experiments after every executed cell."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[tuple[Any, ...], str | None]] = {}

    def of(self, lab: Lab, listed: list[dict[str, Any]]) -> dict[str, str | None]:
        from promptlab_nb.services.results import summary_versions

        with lab.db.connection() as connection:
            versions = summary_versions(connection)
        self._known = {name: known for name, known in self._known.items() if name in versions}
        for row in listed:
            version = versions.get(row["name"], ())
            if row["name"] not in self._known or self._known[row["name"]][0] != version:
                self._known[row["name"]] = (version, _best_variant(_summary_of(lab, row)))
        return {name: best for name, (_, best) in self._known.items()}


def experiment_list(lab: Lab, best_variants: BestVariants) -> ExperimentList:
    listed = frame_records(lab.experiments())
    best = best_variants.of(lab, listed)
    return ExperimentList(experiments=[ExperimentSummary(**row, best_variant=best[row["name"]]) for row in listed])


def experiment_detail(lab: Lab, name: str) -> ExperimentDetail:
    found = [row for row in frame_records(lab.experiments()) if row["name"] == name]
    if not found:
        raise ExperimentNotFound(name)
    listed = found[0]
    summary = _summary_of(lab, listed)
    return ExperimentDetail(
        experiment=ExperimentSummary(**listed, best_variant=_best_variant(summary)),
        summary=frame_records(summary.reset_index()) if summary is not None else [],
    )


def runs_page(lab: Lab, name: str, offset: int, limit: int) -> RunsPage:
    from promptlab_nb.services.results import run_count, runs_page_frame

    experiment_id = lab.experiment(name).id
    with lab.db.connection() as connection:
        total = run_count(connection, experiment_id)
        page = runs_page_frame(connection, experiment_id, offset, limit)
    return RunsPage(experiment=name, total=total, offset=offset, limit=limit, runs=frame_records(page))
