"""``exp.summary()`` computed in the store: counts, error rates, latency percentiles, tokens and cost are
aggregated in SQL per variant, and the statistics get one mean per (variant, data row) of each score,
never the runs themselves. A million runs become a few megabytes of numbers.

The queries filter every table they read on the experiment's id, so that a planner with stale
statistics (PostgreSQL right after a bulk insert) still has a selective filter on each side; the id is
a parameter, not a column to compare, so that DuckDB does not carry it through its joins."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from promptlab_nb.core.errors import InvalidData
from promptlab_nb.core.vocabulary import RunStatus
from promptlab_nb.evaluation.analysis import RATING, score_summary
from promptlab_nb.evaluation.evaluators import RESERVED_NAMES
from promptlab_nb.evaluation.statistics import T_METHOD
from promptlab_nb.services.results import (
    data_keys,
    input_path,
    input_text,
    planned_for_whole_experiments,
    query_frame,
    score_columns,
    shown_data_columns,
)

RUN_STATISTICS = [
    "runs",
    "error_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "input_tokens",
    "output_tokens",
    "cost",
    "cache_hits",
]

RAN = f"r.status <> '{RunStatus.CANCELLED}'"

VARIANT_STATISTICS_QUERY = f"""
select v.position as variant_position, v.label as variant, count(*){{ran}} as runs,
       avg(case when r.status <> '{RunStatus.OK}' then 1.0 else 0.0 end){{ran}} as error_rate,
       percentile_cont(0.5) within group (order by r.latency_ms) filter (where not r.cache_hit{{and_ran}})
           as latency_p50_ms,
       percentile_cont(0.95) within group (order by r.latency_ms) filter (where not r.cache_hit{{and_ran}})
           as latency_p95_ms,
       avg(r.input_tokens){{ran}} as input_tokens, avg(r.output_tokens){{ran}} as output_tokens,
       case when count(r.cost){{ran}} < count(*){{ran}} then null else sum(r.cost){{ran}} end as cost,
       sum(case when r.cache_hit then 1 else 0 end){{ran}} as cache_hits,
       sum(case when r.status = '{RunStatus.CANCELLED}' then 1 else 0 end) as cancelled_runs,
       coalesce(sum(case when r.status = '{RunStatus.OK}' then r.cost end), 0.0) as answered_cost,
       sum(case when r.status = '{RunStatus.OK}' and r.cost is null then 1 else 0 end) as unpriced
from run r join variant v on v.id = r.variant_id and v.experiment_id = :experiment_id
where r.experiment_id = :experiment_id
group by v.position, v.label
order by v.position
"""
"""Per variant: the summary's run figures (over the runs that ran when ``{ran}`` filters them) and the
widget's counts over every run, in one scan."""

REPEATS_QUERY = "select repeats from experiment where id = :experiment_id"

LATEST_RATINGS = """
latest_rating as (
    select run_id, value from (
        select g.run_id, g.value, row_number() over (partition by g.run_id order by g.created_at desc) as newest
        from rating g where g.experiment_id = :experiment_id
    ) ranked where newest = 1
)"""


def _row_means_query(connection, evaluators: int, ratings: bool, cluster: bool, ran_only: bool, averaged: bool) -> str:
    """Per (variant, data row): the mean over repeats (``averaged``; without repeats a row has one run) of
    each evaluator's score (a run that did not run scores 0) and of the ratings, with the row's cluster
    label. One score per run and evaluator is stored (the runner writes one, re-scoring replaces them);
    ratings keep their history, the newest counts. The runs reach the joins as their id and small numbers
    (variant position, whether it answered): a million runs then weigh about 30 MB less in DuckDB's hash
    table than with the status and variant id strings."""
    mean = "avg" if averaged else ""
    columns = [
        f"{mean}(case when r.answered then s{index}.value else 0.0 end) as e{index}" for index in range(evaluators)
    ]
    joins = [
        f"left join score s{index} on s{index}.run_id = r.id and s{index}.experiment_id = :experiment_id "
        f"and s{index}.evaluator = :evaluator_{index}"
        for index in range(evaluators)
    ]
    if ratings:
        columns.append(f"{mean}(g.value) as rating")
        joins.append("left join latest_rating g on g.run_id = r.id")
    if cluster:
        label = input_text(connection, "er.inputs", "cluster_key")
        columns.append(f"min({label}) as cluster" if averaged else f"{label} as cluster")
        joins.append("join experiment_row er on er.experiment_id = :experiment_id and er.row_index = r.row_index")
    return (
        ("with " + LATEST_RATINGS if ratings else "")
        + f"""
select {", ".join(["r.variant_position", "r.row_index", *columns])}
from (select v.position as variant_position, r.id, r.row_index, r.status = '{RunStatus.OK}' as answered
      from run r join variant v on v.id = r.variant_id and v.experiment_id = :experiment_id
      where r.experiment_id = :experiment_id {"and " + RAN if ran_only else ""}) r
{" ".join(joins)}
{"group by r.variant_position, r.row_index" if averaged else ""}
"""
    )


def experiment_summary(
    connection,
    experiment_id: str,
    cluster: str | None = None,
    *,
    ran_only: bool = False,
    method: str = T_METHOD,
    seed: int | None = None,
) -> pd.DataFrame | None:
    """``exp.summary()`` of an experiment (None before it has runs); ``ran_only`` leaves cancelled runs out,
    as the widget does; ``method`` and ``seed`` choose the intervals (see ``summary_table``). Besides
    the summary's columns it carries ``cancelled_runs``, ``answered_cost`` and
    ``unpriced`` in ``attrs["counts"]`` (a frame by variant)."""
    planned_for_whole_experiments(connection)
    every_run = variant_statistics(connection, experiment_id, ran_only=ran_only)
    statistics = every_run[every_run["runs"] > 0]
    if statistics.empty:
        return None
    evaluators = score_columns(connection, experiment_id)
    has_ratings = RATING in evaluators
    scored = {shown: name for name, shown in evaluators.items() if shown != RATING}
    cluster_key = _cluster_key(connection, experiment_id, cluster, set(evaluators.values())) if cluster else None
    rows = row_means(connection, experiment_id, list(scored.values()), has_ratings, cluster_key, ran_only)
    rows = rows.rename(columns=dict(zip([f"e{index}" for index in range(len(scored))], scored, strict=True)))
    if cluster:
        if rows["cluster"].isna().all():
            raise InvalidData(f"No data column {cluster!r} to cluster by; see exp.runs for the columns.")
        rows = rows.rename(columns={"cluster": cluster})
    rows["variant"] = _variant_labels(rows.pop("variant_position"), statistics)
    scores = score_summary(rows, list(evaluators.values()), cluster, method, seed)
    described = statistics.set_index("variant").reindex(scores.index)
    table = pd.concat([described[RUN_STATISTICS[:2]], scores, described[RUN_STATISTICS[2:]]], axis=1)
    table = table.astype({"runs": "int64", "cache_hits": "int64"})
    table.attrs.update(
        scores.attrs, counts=every_run.set_index("variant")[["cancelled_runs", "answered_cost", "unpriced"]]
    )
    return table


def _variant_labels(positions: pd.Series, statistics: pd.DataFrame) -> pd.Categorical:
    """The label of each variant position, as a categorical in the order of ``statistics``."""
    codes = np.full(int(statistics["variant_position"].max()) + 1, -1, dtype=np.int64)
    codes[statistics["variant_position"].to_numpy()] = np.arange(len(statistics))
    return pd.Categorical.from_codes(codes[positions.to_numpy()], list(statistics["variant"]))


def variant_statistics(connection, experiment_id: str, *, ran_only: bool = False) -> pd.DataFrame:
    """Per variant, in position order: runs, error rate, latency percentiles of the calls made, mean
    tokens, total cost (unknown when a run has no price) and cache hits, of the runs that ran when
    ``ran_only`` (a variant whose runs were all cancelled then has 0 runs), and the widget's counts over
    every run."""
    ran = f" filter (where {RAN})" if ran_only else ""
    query = VARIANT_STATISTICS_QUERY.replace("{ran}", ran).replace("{and_ran}", f" and {RAN}" if ran_only else "")
    statistics = query_frame(connection, query, experiment_id=experiment_id)
    return statistics.astype({column: float for column in RUN_STATISTICS if column not in ("runs", "cache_hits")})


def row_means(
    connection,
    experiment_id: str,
    evaluators: Sequence[str],
    ratings: bool,
    cluster_key: str | None,
    ran_only: bool,
) -> pd.DataFrame:
    averaged = query_frame(connection, REPEATS_QUERY, experiment_id=experiment_id)["repeats"].iloc[0] > 1
    query = _row_means_query(connection, len(evaluators), ratings, cluster_key is not None, ran_only, averaged)
    names = {f"evaluator_{index}": name for index, name in enumerate(evaluators)}
    keys = {"cluster_key": input_path(connection, cluster_key)} if cluster_key is not None else {}
    rows = query_frame(connection, query, experiment_id=experiment_id, **names, **keys)
    return rows.sort_values("variant_position", kind="stable", ignore_index=True)


def _cluster_key(connection, experiment_id: str, cluster: str, evaluators: set[str]) -> str:
    """The data column shown as ``cluster`` in the runs (named ``input_<name>`` where it would hide a run
    column or a score); a run or score column is refused."""
    shown = shown_data_columns(data_keys(connection, experiment_id), evaluators)
    if cluster in RESERVED_NAMES | evaluators:
        hint = f"; the data column {cluster!r} is {shown[cluster]!r} in exp.runs" if cluster in shown else ""
        raise InvalidData(f"Cluster by a data column, not the run or score column {cluster!r}{hint}.")
    return {column: name for name, column in shown.items()}.get(cluster, cluster)
