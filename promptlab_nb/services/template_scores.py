"""A template's scores across its versions: one row per experiment variant that ran a version of it.

The store averages each data row's repeats (a failed run scores 0, as in an experiment's summary);
the statistics module turns those row means into the mean and its 95% confidence interval."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection

from promptlab_nb.core.vocabulary import DefinitionKind, RunStatus
from promptlab_nb.evaluation.analysis import score_range
from promptlab_nb.evaluation.score_trend import HISTORY_COLUMNS, ScoreHistory
from promptlab_nb.evaluation.statistics import summarize
from promptlab_nb.services.labels import labels_at
from promptlab_nb.services.results import query_frame

ROW_SCORES_QUERY = """
with template_variant as (
    select id, experiment_id, label, position, target_version, model
    from variant where kind = :kind and target_name = :name
), scored as (
    select distinct experiment_id from score
    where evaluator = :evaluator and experiment_id in (select experiment_id from template_variant)
)
select e.name as experiment, e.created_at as date, v.label as variant, v.position, v.target_version as version,
       v.model, r.row_index,
       avg(case when sc.experiment_id is null then null
                when r.status = :ok then s.value
                else 0 end) as value
from template_variant v
join experiment e on e.id = v.experiment_id
join run r on r.variant_id = v.id
left join scored sc on sc.experiment_id = v.experiment_id
left join score s on s.run_id = r.id and s.evaluator = :evaluator
group by e.name, e.created_at, v.label, v.position, v.target_version, v.model, r.row_index
order by e.created_at, e.name, v.position, r.row_index
"""

KEYS = ["experiment", "variant"]


def score_history(connection: Connection, name: str, evaluator: str, labels: dict[str, int]) -> ScoreHistory:
    """``evaluator``'s mean and CI per experiment variant that ran template ``name``, oldest first;
    ``labels`` (label -> version) marks the versions labels point at now. A variant not scored by
    ``evaluator`` has n 0 and no mean."""
    rows = query_frame(
        connection, ROW_SCORES_QUERY, name=name, evaluator=evaluator, kind=DefinitionKind.TEMPLATE, ok=RunStatus.OK
    )
    if rows.empty:
        return ScoreHistory(columns=HISTORY_COLUMNS, evaluator=evaluator)
    variants = rows.drop_duplicates(KEYS).reset_index(drop=True)
    keyed = rows.merge(variants[KEYS].reset_index(names="key"), on=KEYS)
    stats = summarize(keyed.rename(columns={"key": "variant", "variant": "label"})[["variant", "row_index", "value"]])
    stats = stats.reindex(variants.index)
    low, high = score_range(rows["value"])
    history = pd.DataFrame(
        {
            "experiment": variants["experiment"],
            "date": variants["date"],
            "variant": variants["variant"],
            "version": variants["version"].astype(int),
            "labels": [labels_at(labels, version) for version in variants["version"]],
            "model": variants["model"],
            "n": stats["n_rows"].fillna(0).astype(int).to_numpy(),
            "mean": stats["mean"].to_numpy(),
            "ci_low": stats["ci_low"].clip(lower=low).to_numpy(),
            "ci_high": stats["ci_high"].clip(upper=high).to_numpy(),
        }
    )
    return ScoreHistory(history, evaluator=evaluator)
