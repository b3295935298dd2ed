"""A large stored experiment for the view benchmarks, written with set-based SQL inserts (no runner,
no Python object per run), on DuckDB or PostgreSQL alike.

Each run has an output of about 40 words; one evaluator scores it, with a pass rate that grows with the
variant's position; about 1 run in 97 failed to run. The data rows have a ``question`` and a ``topic``
(50 topics, for clustered summaries). Their texts are indexed for search afterwards, as ``lab.vacuum()``
indexes an experiment stored by an older version.
"""

from __future__ import annotations

import platform
import time

from sqlalchemy import create_engine, text

import promptlab_nb as pl
from promptlab_nb.store.text_grams import index_experiment

POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SENTENCE = "the capital city of this country is well known for its long history and its river "
SERIES = {"duckdb": "range(:count) as t(i)", "postgresql": "generate_series(0, :count - 1) as t(i)"}

ROWS_SQL = """
insert into experiment_row (experiment_id, row_index, inputs)
select :experiment_id, i, '{"question": "question ' || i || '", "topic": "topic ' || (i % 50) || '"}'
from {series}
"""

RUNS_SQL = """
insert into run (id, experiment_id, variant_id, row_index, "repeat", status, mode, output, error, latency_ms,
                 input_tokens, output_tokens, cost, cache_hit, started_at, finished_at)
select 'r' || :position || '-' || i, :experiment_id, :variant_id, cast((i - i % :repeats) / :repeats as integer),
       i % :repeats,
       case when i % 97 = 5 then 'error' else 'ok' end,
       'live',
       case when i % 97 = 5 then null
            else 'answer ' || i || ' ' || :sentence || :sentence || :sentence
                 || case when (i + :position) % 3 = 0 then 'no' else 'yes' end end,
       case when i % 97 = 5 then 'ProviderError: 503 from the model server' end,
       20 + random() * 880, 12, 7, 0.000006, i % 10 = 0, now(), now()
from {series}
"""

SCORES_SQL = """
insert into score (id, experiment_id, run_id, evaluator, value, passed, created_at)
select 's' || r.id, r.experiment_id, r.id, 'contains:yes', passed, passed = 1, now()
from (select r.id, r.experiment_id,
             case when random() < 0.6 + 0.05 * v.position then 1.0 else 0.0 end as passed
      from run r join variant v on v.id = r.variant_id
      where r.experiment_id = :experiment_id and r.status = 'ok') r
"""


def stored_experiment(lab: pl.Lab, rows: int, variants: int, repeats: int, name: str = "large") -> pl.Experiment:
    """An experiment of ``variants`` x ``rows`` x ``repeats`` finished runs, written straight into the store."""
    names = [f"variant_{index}" for index in range(variants)]
    for template in names:
        lab.templates.save(template, f"{template}: {{{{ question }}}}", model="mock:echo")
    experiment = lab.plan(names, [{"question": "question 0", "topic": "topic 0"}], repeats=repeats, name=name)
    record = experiment.record
    series = SERIES[lab.db.backend]
    with lab.db.connection() as connection:
        connection.execute(text("delete from experiment_row where experiment_id = :id"), {"id": record.id})
        connection.execute(
            text("update experiment set row_count = :rows, status = 'completed' where id = :id"),
            {"rows": rows, "id": record.id},
        )
        connection.execute(text(ROWS_SQL.replace("{series}", series)), {"experiment_id": record.id, "count": rows})
        for position, variant in enumerate(record.variants):
            connection.execute(
                text(RUNS_SQL.replace("{series}", series)),
                {
                    "position": position,
                    "experiment_id": record.id,
                    "variant_id": variant.id,
                    "repeats": repeats,
                    "count": rows * repeats,
                    "sentence": SENTENCE,
                },
            )
        connection.execute(text(SCORES_SQL), {"experiment_id": record.id})
        index_experiment(connection, record.id)
    return experiment


def timed(work) -> tuple[object, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def postgres_schema_url(schema: str) -> str:
    """A store URL on the local PostgreSQL server in ``schema``, emptied first."""
    admin = create_engine(POSTGRES_SERVER)
    with admin.begin() as connection:
        connection.execute(text(f"drop schema if exists {schema} cascade"))
        connection.execute(text(f"create schema {schema}"))
    admin.dispose()
    return f"{POSTGRES_SERVER}?options=-csearch_path%3D{schema}"


def header(postgres: bool, rows: int, variants: int, repeats: int) -> str:
    """When and where a benchmark ran, and on what."""
    backend = "PostgreSQL" if postgres else "DuckDB"
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    return (
        f"{when} UTC, {platform.machine()}, Python {platform.python_version()}\n"
        f"{rows * variants * repeats:,} runs on {backend} ({variants} variants x {rows:,} rows x {repeats} repeats)"
    )
