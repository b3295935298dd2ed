"""Reading results back: runs as DataFrames with their inputs, scores and ratings as columns."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from sqlalchemy import text

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
    runs, input_columns = _with_inputs(runs, query_frame(connection, ROWS_QUERY, experiment_id=experiment_id))
    scores = query_frame(connection, SCORES_QUERY, experiment_id=experiment_id)
    ratings = query_frame(connection, RATINGS_QUERY, experiment_id=experiment_id)
    runs = _with_ratings(_with_scores(runs, scores), ratings)
    runs.attrs["inputs"] = input_columns
    runs.attrs["evaluators"] = list(dict.fromkeys(scores["evaluator"])) + (["rating"] if not ratings.empty else [])
    return runs


def summary_frame(connection, experiment_id: str, cluster: str | None = None) -> pd.DataFrame:
    """What a summary needs and no more: variant, row, repeat, status, latency, tokens, cost, cache
    hit, the scores (and ratings), and the ``cluster`` data column when asked."""
    runs = query_frame(connection, SUMMARY_RUNS_QUERY, experiment_id=experiment_id)
    if runs.empty:
        return runs
    runs["cache_hit"] = runs["cache_hit"].astype(bool)
    labels = query_frame(connection, VARIANTS_QUERY, experiment_id=experiment_id).set_index("variant_position")[
        "variant"
    ]
    runs.insert(0, "variant", labels.loc[runs.pop("variant_position")].to_numpy())
    if cluster:
        rows = query_frame(connection, ROWS_QUERY, experiment_id=experiment_id)
        values = pd.Series([(_loads(value) or {}).get(cluster) for value in rows["inputs"]], index=rows["row_index"])
        runs[cluster] = values.loc[runs["row_index"]].to_numpy()
    scores = query_frame(connection, SCORES_QUERY, experiment_id=experiment_id)
    ratings = query_frame(connection, RATINGS_QUERY, experiment_id=experiment_id)
    runs = _with_ratings(_with_scores(runs, scores), ratings)
    runs.attrs["evaluators"] = list(dict.fromkeys(scores["evaluator"])) + (["rating"] if not ratings.empty else [])
    return runs


def _with_variants(runs: pd.DataFrame, variants: pd.DataFrame) -> pd.DataFrame:
    variants["params"] = [_loads(value) for value in variants["params"]]
    described = variants.set_index("variant_position").loc[runs["variant_position"]].reset_index(drop=True)
    return pd.concat([runs.drop(columns="variant_position"), described], axis=1)


def _with_inputs(runs: pd.DataFrame, rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The data row of each run: an ``inputs`` dict, and each data column as a column of its own
    (prefixed input_ where it would hide a run column)."""
    inputs = [_loads(value) or {} for value in rows["inputs"]]
    columns = pd.DataFrame(inputs, index=rows["row_index"])
    renamed = {column: f"input_{column}" if column in runs.columns else column for column in columns.columns}
    columns = columns.rename(columns=renamed)
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
