"""Reading results back: runs as DataFrames with their inputs, scores and ratings as columns."""

from __future__ import annotations

import json
from collections.abc import Sequence, Set
from typing import Any

import pandas as pd
from sqlalchemy import text

from promptlab_nb.core.errors import InvalidData
from promptlab_nb.evaluation.evaluators import RESERVED_NAMES

RUN_COLUMNS = [
    "run_id",
    "variant",
    "kind",
    "target",
    "target_version",
    "model",
    "params",
    "row_index",
    "repeat",
    "status",
    "output",
    "parsed",
    "error",
    "failed_step",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "cost",
    "cache_hit",
    "mode",
    "started_at",
    "finished_at",
    "inputs",
]

RUN_ORDER = 'r.row_index, v.position, r."repeat"'

RUNS_QUERY = f"""
select r.id as run_id, v.position as variant_position, r.row_index, r."repeat", r.status, r.output, r.parsed,
       r.error, r.failed_step, r.latency_ms, r.input_tokens, r.output_tokens, r.cost, r.cache_hit, r.mode,
       r.started_at, r.finished_at
from run r
join variant v on v.id = r.variant_id
where r.experiment_id = :experiment_id
order by {RUN_ORDER}
"""

SUMMARY_RUNS_QUERY = f"""
select v.position as variant_position, r.row_index, r."repeat", r.status, r.latency_ms, r.input_tokens,
       r.output_tokens, r.cost, r.cache_hit
from run r
join variant v on v.id = r.variant_id
where r.experiment_id = :experiment_id
order by {RUN_ORDER}
"""

ORDINALS = f"""
with ordinal as (
    select r.id, row_number() over (order by {RUN_ORDER}) - 1 as position
    from run r join variant v on v.id = r.variant_id
    where r.experiment_id = :experiment_id
)
"""

VARIANTS_QUERY = """
select position as variant_position, label as variant, kind, target_name as target, target_version, model, params
from variant where experiment_id = :experiment_id order by position
"""

ROWS_QUERY = """
select row_index, inputs from experiment_row where experiment_id = :experiment_id order by row_index
"""

SCORES_QUERY = (
    ORDINALS
    + """
select o.position, s.evaluator, s.value, s.reason, s.error
from score s join ordinal o on o.id = s.run_id
where s.experiment_id = :experiment_id
order by s.created_at
"""
)

RATINGS_QUERY = (
    ORDINALS
    + """
select o.position, g.value, g.note
from rating g join ordinal o on o.id = g.run_id
where g.experiment_id = :experiment_id
order by g.created_at
"""
)

STEPS_QUERY = """
select st.run_id, v.label as variant, r.row_index, r."repeat", st.position, st.name, st.template, st.model,
       st.status, st.output, st.parsed, st.error, st.latency_ms, st.input_tokens, st.output_tokens, st.cost,
       st.cache_hit
from run_step st
join run r on r.id = st.run_id
join variant v on v.id = r.variant_id
where r.experiment_id = :experiment_id
order by r.row_index, v.position, r."repeat", st.position
"""


def query_frame(connection, query: str, **params: Any) -> pd.DataFrame:
    """A DataFrame from SQL; on DuckDB straight from its result (no row-by-row conversion)."""
    if connection.dialect.name == "duckdb":
        sql = query
        for name in params:
            sql = sql.replace(f":{name}", f"${name}")
        return connection.connection.driver_connection.execute(sql, params).df()
    return pd.read_sql_query(text(query), connection, params=params)


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def runs_frame(connection, experiment_id: str) -> pd.DataFrame:
    """One row per run. Variants, data rows, scores and ratings are read apart and placed by position,
    so a data row's JSON is parsed once however many variants and repeats used it."""
    runs = query_frame(connection, RUNS_QUERY, experiment_id=experiment_id)
    if runs.empty:
        empty = pd.DataFrame(columns=RUN_COLUMNS)
        empty.attrs.update(inputs=[], evaluators=[])
        return empty
    runs["parsed"] = [_loads(value) for value in runs["parsed"]]
    runs["cache_hit"] = runs["cache_hit"].astype(bool)
    runs = _with_variants(runs, query_frame(connection, VARIANTS_QUERY, experiment_id=experiment_id))
    scores = _shown_scores(query_frame(connection, SCORES_QUERY, experiment_id=experiment_id))
    rows = query_frame(connection, ROWS_QUERY, experiment_id=experiment_id)
    runs, input_columns = _with_inputs(runs, rows, set(scores["evaluator"]))
    ratings = query_frame(connection, RATINGS_QUERY, experiment_id=experiment_id)
    runs = _with_ratings(_with_scores(runs, scores), ratings)
    runs.attrs["inputs"] = input_columns
    runs.attrs["evaluators"] = _evaluator_columns(scores, ratings)
    return runs


def summary_frame(connection, experiment_id: str, cluster: str | None = None) -> pd.DataFrame:
    """What a summary needs and no more: variant, row, repeat, status, latency, tokens, cost, cache
    hit, the scores (and ratings), and the ``cluster`` data column (named as in ``runs_frame``) when asked."""
    runs = query_frame(connection, SUMMARY_RUNS_QUERY, experiment_id=experiment_id)
    if runs.empty:
        return runs
    runs["cache_hit"] = runs["cache_hit"].astype(bool)
    labels = query_frame(connection, VARIANTS_QUERY, experiment_id=experiment_id).set_index("variant_position")[
        "variant"
    ]
    runs.insert(0, "variant", labels.loc[runs.pop("variant_position")].to_numpy())
    scores = _shown_scores(query_frame(connection, SCORES_QUERY, experiment_id=experiment_id))
    if cluster:
        rows = query_frame(connection, ROWS_QUERY, experiment_id=experiment_id)
        runs[cluster] = _cluster_values(rows, cluster, set(scores["evaluator"])).loc[runs["row_index"]].to_numpy()
    ratings = query_frame(connection, RATINGS_QUERY, experiment_id=experiment_id)
    runs = _with_ratings(_with_scores(runs, scores), ratings)
    runs.attrs["evaluators"] = _evaluator_columns(scores, ratings)
    return runs


def _evaluator_columns(scores: pd.DataFrame, ratings: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(scores["evaluator"])) + (["rating"] if not ratings.empty else [])


def _shown_names(names: Sequence[str], taken: Set[str], prefix: str) -> dict[str, str]:
    """Each name as a column: prefixed (again if need be) where it would hide a column in ``taken``
    or another of ``names``."""
    used = set(taken) | set(names)
    shown = {}
    for name in names:
        column = name
        if name in taken:
            while column in used:
                column = prefix + column
            used.add(column)
        shown[name] = column
    return shown


def _shown_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores under the column names they are shown as: an evaluator named like a run or summary
    column (possible in stores from before such names were refused) is shown as score_<name>."""
    shown = _shown_names(list(dict.fromkeys(scores["evaluator"])), RESERVED_NAMES, "score_")
    return scores.assign(evaluator=scores["evaluator"].map(shown))


def _data_columns(keys: Sequence[str], evaluators: Set[str]) -> dict[str, str]:
    """Data column -> its column in the runs: input_<name> where it would hide a run column or a score."""
    return _shown_names(keys, RESERVED_NAMES | evaluators, "input_")


def _cluster_values(rows: pd.DataFrame, cluster: str, evaluators: Set[str]) -> pd.Series:
    """The value of the data column shown as ``cluster`` in the runs, per row index."""
    inputs = [_loads(value) or {} for value in rows["inputs"]]
    shown = _data_columns(list(dict.fromkeys(key for row in inputs for key in row)), evaluators)
    if cluster in RESERVED_NAMES | evaluators:
        hint = f"; the data column {cluster!r} is {shown[cluster]!r} in exp.runs" if cluster in shown else ""
        raise InvalidData(f"Cluster by a data column, not the run or score column {cluster!r}{hint}.")
    key = {column: name for name, column in shown.items()}.get(cluster, cluster)
    return pd.Series([row.get(key) for row in inputs], index=rows["row_index"])


def _with_variants(runs: pd.DataFrame, variants: pd.DataFrame) -> pd.DataFrame:
    variants["params"] = [_loads(value) for value in variants["params"]]
    described = variants.set_index("variant_position").loc[runs["variant_position"]].reset_index(drop=True)
    return pd.concat([runs.drop(columns="variant_position"), described], axis=1)


def _with_inputs(runs: pd.DataFrame, rows: pd.DataFrame, evaluators: Set[str]) -> tuple[pd.DataFrame, list[str]]:
    """The data row of each run: an ``inputs`` dict, and each data column as a column of its own
    (prefixed input_ where it would hide a run column or a score)."""
    inputs = [_loads(value) or {} for value in rows["inputs"]]
    columns = pd.DataFrame(inputs, index=rows["row_index"])
    renamed = _data_columns([str(column) for column in columns.columns], evaluators)
    columns = columns.set_axis(list(renamed.values()), axis=1)
    columns.insert(0, "inputs", inputs)
    runs = runs[[column for column in RUN_COLUMNS[:-1] if column in runs.columns]]
    placed = columns.loc[runs["row_index"]].reset_index(drop=True)
    return pd.concat([runs, placed], axis=1), list(renamed.values())


def _placed(frame: pd.DataFrame, size: int) -> pd.DataFrame:
    """Rows keyed by run position, laid out as ``size`` rows in run order (missing ones empty)."""
    return frame.reindex(range(size)).set_axis(range(size))


def _with_scores(runs: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    if scores.empty:
        return runs
    latest = scores.drop_duplicates(["position", "evaluator"], keep="last")
    parts = [_placed(latest.pivot(index="position", columns="evaluator", values="value"), len(runs))]
    reasons = latest.pivot(index="position", columns="evaluator", values="reason").dropna(axis=1, how="all")
    parts.append(_placed(reasons.add_suffix(" reason"), len(runs)))
    failed = latest.dropna(subset=["error"])
    if not failed.empty:
        errors = failed.pivot(index="position", columns="evaluator", values="error").add_suffix(" error")
        parts.append(_placed(errors, len(runs)))
    return pd.concat([runs, *[part.rename_axis(columns=None) for part in parts]], axis=1)


def _with_ratings(runs: pd.DataFrame, ratings: pd.DataFrame) -> pd.DataFrame:
    if ratings.empty:
        return runs
    latest = ratings.drop_duplicates("position", keep="last").set_index("position")
    placed = _placed(latest.rename(columns={"value": "rating", "note": "rating_note"}), len(runs))
    return pd.concat([runs, placed], axis=1)


def steps_frame(connection, experiment_id: str) -> pd.DataFrame:
    steps = query_frame(connection, STEPS_QUERY, experiment_id=experiment_id)
    if not steps.empty:
        steps["parsed"] = [_loads(value) for value in steps["parsed"]]
    return steps


PAGE = f"""
with page as (
    select r.id, r.row_index from run r join variant v on v.id = r.variant_id
    where r.experiment_id = :experiment_id
    order by {RUN_ORDER}
    limit :limit offset :offset
)"""

PAGE_ORDINALS = (
    PAGE
    + f""",
ordinal as (
    select r.id, row_number() over (order by {RUN_ORDER}) - 1 as position
    from run r join variant v on v.id = r.variant_id
    where r.id in (select id from page)
)
"""
)

PAGE_RUNS_QUERY = RUNS_QUERY + "limit :limit offset :offset\n"

PAGE_ROWS_QUERY = (
    PAGE
    + """
select row_index, inputs from experiment_row
where experiment_id = :experiment_id and row_index in (select row_index from page)
order by row_index
"""
)

RUN_COUNT_QUERY = "select count(*) as runs from run where experiment_id = :experiment_id"


def run_count(connection, experiment_id: str) -> int:
    return int(query_frame(connection, RUN_COUNT_QUERY, experiment_id=experiment_id)["runs"].iloc[0])


def runs_page_frame(connection, experiment_id: str, offset: int, limit: int) -> pd.DataFrame:
    """Runs ``offset`` to ``offset + limit`` of ``runs_frame``, read with LIMIT/OFFSET: a page of a large
    experiment reads only its runs and their data rows, scores and ratings."""
    page = {"experiment_id": experiment_id, "offset": offset, "limit": limit}
    runs = query_frame(connection, PAGE_RUNS_QUERY, **page)
    if runs.empty:
        return pd.DataFrame(columns=RUN_COLUMNS)
    runs["parsed"] = [_loads(value) for value in runs["parsed"]]
    runs["cache_hit"] = runs["cache_hit"].astype(bool)
    runs = _with_variants(runs, query_frame(connection, VARIANTS_QUERY, experiment_id=experiment_id))
    scores = _shown_scores(query_frame(connection, PAGE_ORDINALS + SCORES_QUERY.removeprefix(ORDINALS), **page))
    runs, _ = _with_inputs(runs, query_frame(connection, PAGE_ROWS_QUERY, **page), set(scores["evaluator"]))
    ratings = query_frame(connection, PAGE_ORDINALS + RATINGS_QUERY.removeprefix(ORDINALS), **page)
    return _with_ratings(_with_scores(runs, scores), ratings)


SUMMARY_VERSIONS_QUERY = """
select e.name, e.id, r.runs, r.finished, s.scores, s.scored, g.ratings, g.rated
from experiment e
left join (select experiment_id, count(*) as runs, max(finished_at) as finished from run group by experiment_id) r
    on r.experiment_id = e.id
left join (select experiment_id, count(*) as scores, max(created_at) as scored from score group by experiment_id) s
    on s.experiment_id = e.id
left join (select experiment_id, count(*) as ratings, max(created_at) as rated from rating group by experiment_id) g
    on g.experiment_id = e.id
"""


def summary_versions(connection) -> dict[str, tuple[Any, ...]]:
    """Per experiment name, what its summary is computed from: its id and the count and latest time of
    its runs, scores and ratings. A summary computed at the same version is still current."""
    versions = query_frame(connection, SUMMARY_VERSIONS_QUERY).astype(object)
    return {
        row[0]: tuple(None if pd.isna(value) else value for value in row[1:])
        for row in versions.itertuples(index=False)
    }
