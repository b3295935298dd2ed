"""Reading results back: runs as DataFrames with their inputs, scores and ratings as columns."""

from __future__ import annotations

import json
from collections.abc import Sequence, Set
from typing import Any, NamedTuple

import pandas as pd
from sqlalchemy import text

from promptlab_nb.core.vocabulary import RunStatus
from promptlab_nb.evaluation.analysis import RATING
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


def planned_for_whole_experiments(connection) -> None:
    """On PostgreSQL, plan the rest of this transaction's joins as hash or merge joins. Right after a bulk
    insert the planner's statistics can say that a table of 100,000 runs holds 17, and it then picks a
    nested loop that probes an index once per run: seconds instead of a tenth of one. The queries run
    after this read whole experiments, where a hash join is the right plan whatever the statistics say."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("set local enable_nestloop = off"))


def planned_for_a_page(connection) -> None:
    """On PostgreSQL, plan the rest of this transaction's queries, which read a page's few rows, through the
    indexes on run (experiment, row) and score (run, evaluator): nested loops again (after
    ``planned_for_whole_experiments``) and no sequential scan. Right after a bulk insert the planner's
    statistics, counting a few runs, prefer a scan of every score of the table (10-25 ms at 100,000 runs,
    0.1 ms through the index)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("set local enable_nestloop to default"))
        connection.execute(text("set local enable_seqscan = off"))


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


def shown_data_columns(keys: Sequence[str], evaluators: Set[str]) -> dict[str, str]:
    """Data column -> its column in the runs: input_<name> where it would hide a run column or a score."""
    return _shown_names(keys, RESERVED_NAMES | evaluators, "input_")


EVALUATORS_QUERY = """
select evaluator, min(created_at) as first_scored from score where experiment_id = :experiment_id group by evaluator
"""

FIRST_SCORED_RUN_QUERY = """
select evaluator from score
where experiment_id = :experiment_id
  and run_id = (select run_id from score where experiment_id = :experiment_id order by created_at limit 1)
"""

HAS_RATINGS_QUERY = "select count(*) as ratings from rating where experiment_id = :experiment_id"

DATA_KEYS_QUERIES = {
    "duckdb": "select json_keys(inputs) as key_set, min(row_index) as first_row from experiment_row "
    "where experiment_id = :experiment_id group by 1 order by 2",
    "postgresql": "select array(select json_object_keys(inputs::json)) as key_set, min(row_index) as first_row "
    "from experiment_row where experiment_id = :experiment_id and json_typeof(inputs::json) = 'object' "
    "group by 1 order by 2",
}


def score_columns(connection, experiment_id: str) -> dict[str, str]:
    """Evaluator -> the column its scores are shown as (in the order they were first stored, those stored
    together in the order they were written for one run), then
    ``rating`` when the experiment has ratings: the columns ``exp.runs.attrs["evaluators"]`` lists."""
    first_scored = query_frame(connection, EVALUATORS_QUERY, experiment_id=experiment_id)
    in_first_run = list(query_frame(connection, FIRST_SCORED_RUN_QUERY, experiment_id=experiment_id)["evaluator"])
    first_scored["in_first_run"] = [
        in_first_run.index(name) if name in in_first_run else len(in_first_run) for name in first_scored["evaluator"]
    ]
    names = list(first_scored.sort_values(["first_scored", "in_first_run"], kind="stable")["evaluator"])
    shown = _shown_names(names, RESERVED_NAMES, "score_")
    ratings = query_frame(connection, HAS_RATINGS_QUERY, experiment_id=experiment_id)["ratings"].iloc[0]
    return shown | ({RATING: RATING} if ratings else {})


def data_keys(connection, experiment_id: str) -> list[str]:
    """The keys of the experiment's data rows, in order of first appearance, read without parsing every row."""
    key_sets = query_frame(connection, DATA_KEYS_QUERIES[connection.dialect.name], experiment_id=experiment_id)
    return list(dict.fromkeys(str(key) for keys in key_sets["key_set"] if keys is not None for key in keys))


class RunColumns(NamedTuple):
    inputs: list[str]
    evaluators: list[str]


def run_columns(connection, experiment_id: str) -> RunColumns:
    """The data columns and the score columns of ``runs_frame`` (its ``attrs``), read without the runs."""
    evaluators = list(score_columns(connection, experiment_id).values())
    inputs = shown_data_columns(data_keys(connection, experiment_id), set(evaluators))
    return RunColumns(list(inputs.values()), evaluators)


def input_text(connection, column: str, parameter: str) -> str:
    """SQL for the text of one data column of a data row's JSON ``column``; the key is bound as
    ``parameter`` in the form ``input_path`` gives."""
    if connection.dialect.name == "duckdb":
        return f"json_extract_string({column}, :{parameter})"
    return f"({column}::json ->> :{parameter})"


def input_path(connection, key: str) -> str:
    """A data column's key as ``input_text`` binds it: a JSON pointer on DuckDB (whose ``->>`` reads
    keys starting with $ or / as paths), the key itself on PostgreSQL."""
    if connection.dialect.name == "duckdb":
        return "/" + key.replace("~", "~0").replace("/", "~1")
    return key


def _with_variants(runs: pd.DataFrame, variants: pd.DataFrame) -> pd.DataFrame:
    variants["params"] = [_loads(value) for value in variants["params"]]
    described = variants.set_index("variant_position").loc[runs["variant_position"]].reset_index(drop=True)
    return pd.concat([runs.drop(columns="variant_position"), described], axis=1)


def _with_inputs(runs: pd.DataFrame, rows: pd.DataFrame, evaluators: Set[str]) -> tuple[pd.DataFrame, list[str]]:
    """The data row of each run: an ``inputs`` dict, and each data column as a column of its own
    (prefixed input_ where it would hide a run column or a score)."""
    inputs = [_loads(value) or {} for value in rows["inputs"]]
    columns = pd.DataFrame(inputs, index=rows["row_index"])
    renamed = shown_data_columns([str(column) for column in columns.columns], evaluators)
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


ROWS_RUNS_QUERY = RUNS_QUERY.replace(
    "where r.experiment_id = :experiment_id", "where r.experiment_id = :experiment_id and r.row_index in ({rows})"
)

ROWS_RUN_IDS = "select r.id from run r where r.experiment_id = :experiment_id and r.row_index in ({rows})"

ROWS_SCORES_QUERY = """
select s.run_id, s.evaluator, s.value, s.reason, s.error
from score s
where s.run_id = any(:run_ids)
order by s.created_at
"""
"""The scores of the page's runs ``run_ids``, by run id alone: on PostgreSQL through the index on score
(run_id, evaluator) whatever the planner's statistics say (0.1 ms; with the experiment id as well, right after
a bulk insert it filtered the experiment's every score: 20 ms at 100,000 runs)."""

ROWS_RATINGS_QUERY = f"""
select g.run_id, g.value, g.note
from rating g
where g.experiment_id = :experiment_id and g.run_id in ({ROWS_RUN_IDS})
order by g.created_at
"""

ROWS_DATA_QUERY = """
select row_index, inputs from experiment_row
where experiment_id = :experiment_id and row_index in ({rows})
order by row_index
"""

FAILED_STEP_ANSWERS_QUERY = f"""
select st.run_id, st.output
from run_step st join run r on r.id = st.run_id
where r.experiment_id = :experiment_id and r.row_index in ({{rows}}) and st.status <> '{RunStatus.OK}'
  and st.output is not null
order by st.position
"""


LOCATED_ROWS_QUERIES = {
    ROWS_RUNS_QUERY: RUNS_QUERY.replace(
        "where r.experiment_id = :experiment_id",
        "where r.rowid in (select rowid from run where experiment_id = :experiment_id and row_index in ({rows}))",
    ),
    ROWS_SCORES_QUERY: """
select s.run_id, s.evaluator, s.value, s.reason, s.error
from score s
where s.rowid in (select rowid from score where experiment_id = :experiment_id and run_id in (select unnest(:run_ids)))
order by s.created_at
""",
    ROWS_DATA_QUERY: ROWS_DATA_QUERY.replace(
        "where experiment_id = :experiment_id and row_index in ({rows})",
        "where rowid in (select rowid from experiment_row where experiment_id = :experiment_id"
        " and row_index in ({rows}))",
    ),
    ROWS_RATINGS_QUERY: ROWS_RATINGS_QUERY.replace(f"({ROWS_RUN_IDS})", "(select unnest(:run_ids))"),
}
"""The page's queries on DuckDB. Filtering on a list of rows, DuckDB reads every column of each run of the
row groups the list falls in (245,760 runs, outputs included, for 20 rows spread over 2,000: 30-80 ms);
finding the row ids first reads two columns, then only the page's runs (13-21 ms). Scores and ratings are
found by the page's run ids (a million scores: 17-38 ms instead of 37-66)."""


def _page_frame(
    connection, query: str, experiment_id: str, row_indexes: Sequence[int], run_ids: Sequence[str] = ()
) -> pd.DataFrame:
    """``query`` over the data rows ``row_indexes`` (runs ``run_ids``); on DuckDB in its located form."""
    located = LOCATED_ROWS_QUERIES[query] if connection.dialect.name == "duckdb" else query
    sql = _in_rows(located, row_indexes)
    parameters = {"experiment_id": experiment_id, "run_ids": list(run_ids)}
    return query_frame(connection, sql, **{name: value for name, value in parameters.items() if f":{name}" in sql})


def _in_rows(query: str, row_indexes: Sequence[int]) -> str:
    """``query`` limited to the data rows ``row_indexes`` (whole numbers, written into the SQL)."""
    return query.replace("{rows}", ", ".join(str(int(index)) for index in row_indexes))


def rows_runs_frame(
    connection, experiment_id: str, row_indexes: Sequence[int], evaluators: Set[str] = frozenset()
) -> pd.DataFrame:
    """Every run of the data rows ``row_indexes``, as ``runs_frame`` shows them (data columns named as
    among ``evaluators``, the experiment's score columns): what one page of the grid reads."""
    if not row_indexes:
        return pd.DataFrame(columns=RUN_COLUMNS)
    runs = _page_frame(connection, ROWS_RUNS_QUERY, experiment_id, row_indexes)
    if runs.empty:
        return pd.DataFrame(columns=RUN_COLUMNS)
    runs["parsed"] = [_loads(value) for value in runs["parsed"]]
    runs["cache_hit"] = runs["cache_hit"].astype(bool)
    positions = pd.Series(range(len(runs)), index=runs["run_id"])
    run_ids = list(positions.index)
    runs = _with_variants(runs, query_frame(connection, VARIANTS_QUERY, experiment_id=experiment_id))
    scores = _page_frame(connection, ROWS_SCORES_QUERY, experiment_id, row_indexes, run_ids)
    scores = _shown_scores(scores.assign(position=positions.loc[scores.pop("run_id")].to_numpy()))
    rows = _page_frame(connection, ROWS_DATA_QUERY, experiment_id, row_indexes)
    runs, _ = _with_inputs(runs, rows, set(evaluators) | set(scores["evaluator"]))
    ratings = _page_frame(connection, ROWS_RATINGS_QUERY, experiment_id, row_indexes, run_ids)
    ratings = ratings.assign(position=positions.loc[ratings.pop("run_id")].to_numpy())
    return _with_ratings(_with_scores(runs, scores), ratings)


def failed_step_answers(connection, experiment_id: str, row_indexes: Sequence[int]) -> dict[str, str]:
    """What the model answered at the step each failed pipeline run of these data rows stopped at."""
    if not row_indexes:
        return {}
    answers = query_frame(connection, _in_rows(FAILED_STEP_ANSWERS_QUERY, row_indexes), experiment_id=experiment_id)
    return dict(zip(answers["run_id"], answers["output"], strict=True))


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
