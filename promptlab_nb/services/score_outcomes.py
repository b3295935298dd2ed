"""One evaluator's pass/fail per run, and people's ratings beside it: what pass@k and the agreement of
a judge with people are computed from."""

from __future__ import annotations

import pandas as pd

from promptlab_nb.core.errors import InvalidData
from promptlab_nb.core.vocabulary import RunStatus
from promptlab_nb.services.results import query_frame

OUTCOMES_QUERY = """
select r.id as run_id, v.label as variant, r.row_index, r."repeat", r.status, s.value, s.passed
from run r
join variant v on v.id = r.variant_id
left join score s on s.run_id = r.id and s.evaluator = :evaluator
where r.experiment_id = :experiment_id
order by r.row_index, v.position, r."repeat", s.created_at
"""

RATINGS_QUERY = """
select run_id, value as rating from rating where experiment_id = :experiment_id order by created_at
"""

EVALUATORS_QUERY = """
select evaluator from score where experiment_id = :experiment_id group by evaluator order by min(created_at), evaluator
"""


def pass_fail_frame(connection, experiment_id: str, evaluator: str | None = None) -> pd.DataFrame:
    """One line per run: variant, row_index, repeat, and ``passed`` (True, False, or None where the
    evaluator gave no verdict) of ``evaluator`` (None: the first one scored); a failed run has not passed."""
    evaluator = _scored_evaluator(connection, experiment_id, evaluator)
    outcomes = query_frame(connection, OUTCOMES_QUERY, experiment_id=experiment_id, evaluator=evaluator)
    outcomes = outcomes.drop_duplicates("run_id", keep="last").reset_index(drop=True)
    if outcomes["passed"].isna().all():
        raise InvalidData(
            f"{evaluator!r} gives scores without a pass or fail; use an evaluator that passes or fails "
            "(a check, or a judge with a threshold)."
        )
    passed = outcomes["passed"].astype(object).where(outcomes["passed"].notna(), None)
    passed[outcomes["status"] != RunStatus.OK] = False
    return outcomes.assign(passed=passed)


def rated_outcomes(connection, experiment_id: str, evaluator: str) -> pd.DataFrame:
    """The successful runs with both a person's rating (+1 good, -1 bad; the latest, 0 clears it) and
    the evaluator's verdict: run_id, variant, row_index, repeat, person (bool) and ``passed`` (bool)."""
    outcomes = pass_fail_frame(connection, experiment_id, evaluator)
    ratings = query_frame(connection, RATINGS_QUERY, experiment_id=experiment_id)
    latest = ratings.drop_duplicates("run_id", keep="last").set_index("run_id")["rating"]
    rated = outcomes.assign(rating=outcomes["run_id"].map(latest))
    rated = rated[rated["rating"].isin([1, -1]) & (rated["status"] == RunStatus.OK) & rated["passed"].notna()]
    return rated.assign(person=rated["rating"] == 1, passed=rated["passed"].astype(bool))


def _scored_evaluator(connection, experiment_id: str, evaluator: str | None) -> str:
    known = query_frame(connection, EVALUATORS_QUERY, experiment_id=experiment_id)["evaluator"].tolist()
    if evaluator is None and known:
        return known[0]
    if evaluator is None or evaluator not in known:
        listed = ", ".join(map(repr, known)) or "(none yet; add one with exp.evaluate(...))"
        raise InvalidData(f"No scores named {evaluator!r}; scored: {listed}.")
    return evaluator
