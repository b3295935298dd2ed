"""Reading results back: runs as DataFrames with their inputs, scores and ratings as columns."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from sqlalchemy import text

RUN_COLUMNS = [
    "run_id", "variant", "kind", "target", "target_version", "model", "params", "row_index", "repeat",
    "status", "output", "parsed", "error", "failed_step", "latency_ms", "input_tokens", "output_tokens",
    "cost", "cache_hit", "mode", "started_at", "finished_at", "inputs",
]

RUNS_QUERY = """
select r.id as run_id, v.label as variant, v.kind, v.target_name as target, v.target_version, v.model,
       v.params, r.row_index, r."repeat", r.status, r.output, r.parsed, r.error, r.failed_step, r.latency_ms,
       r.input_tokens, r.output_tokens, r.cost, r.cache_hit, r.mode, r.started_at, r.finished_at, er.inputs
from run r
join variant v on v.id = r.variant_id
left join experiment_row er on er.experiment_id = r.experiment_id and er.row_index = r.row_index
where r.experiment_id = :experiment_id
order by r.row_index, v.position, r."repeat"
"""

SCORES_QUERY = """
select s.run_id, s.evaluator, s.value, s.reason, s.error from score s where s.experiment_id = :experiment_id
order by s.created_at
"""

RATINGS_QUERY = """
select run_id, value, note from rating where experiment_id = :experiment_id order by created_at
"""

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
    runs = query_frame(connection, RUNS_QUERY, experiment_id=experiment_id)
    if runs.empty:
        empty = pd.DataFrame(columns=RUN_COLUMNS)
        empty.attrs.update(inputs=[], evaluators=[])
        return empty
    for column in ("params", "parsed", "inputs"):
        runs[column] = [_loads(value) for value in runs[column]]
    runs["cache_hit"] = runs["cache_hit"].astype(bool)
    runs, input_columns = _with_input_columns(runs)
    scores = query_frame(connection, SCORES_QUERY, experiment_id=experiment_id)
    ratings = query_frame(connection, RATINGS_QUERY, experiment_id=experiment_id)
    runs = _with_ratings(_with_scores(runs, scores), ratings)
    runs.attrs["inputs"] = input_columns
    runs.attrs["evaluators"] = list(dict.fromkeys(scores["evaluator"])) + (["rating"] if not ratings.empty else [])
    return runs


def _with_input_columns(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Each data column becomes a column of its own (prefixed input_ where it would hide a run column)."""
    inputs = pd.DataFrame([value or {} for value in runs["inputs"]], index=runs.index)
    renamed = {column: f"input_{column}" if column in runs.columns else column for column in inputs.columns}
    return pd.concat([runs, inputs.rename(columns=renamed)], axis=1), list(renamed.values())


def _with_scores(runs: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    if scores.empty:
        return runs
    latest = scores.drop_duplicates(["run_id", "evaluator"], keep="last")
    values = latest.pivot(index="run_id", columns="evaluator", values="value")
    reasons = latest.pivot(index="run_id", columns="evaluator", values="reason").add_suffix(" reason")
    errors = latest.dropna(subset=["error"])
    joined = runs.join(values, on="run_id").join(reasons.dropna(axis=1, how="all"), on="run_id")
    if not errors.empty:
        joined = joined.join(errors.pivot(index="run_id", columns="evaluator", values="error").add_suffix(" error"), on="run_id")
    return joined


def _with_ratings(runs: pd.DataFrame, ratings: pd.DataFrame) -> pd.DataFrame:
    if ratings.empty:
        return runs
    latest = ratings.drop_duplicates("run_id", keep="last").set_index("run_id")
    return runs.join(latest.rename(columns={"value": "rating", "note": "rating_note"}), on="run_id")


def steps_frame(connection, experiment_id: str) -> pd.DataFrame:
    steps = query_frame(connection, STEPS_QUERY, experiment_id=experiment_id)
    if not steps.empty:
        steps["parsed"] = [_loads(value) for value in steps["parsed"]]
    return steps
