"""The indexes behind the views computed in the store: a store from before them upgrades in place,
keeps its runs, and gains the indexes its backend's planner reads (PostgreSQL's; DuckDB's planner
reads none of them, so a DuckDB store is left without)."""

from __future__ import annotations

from sqlalchemy import create_engine, create_mock_engine, text
from sqlalchemy.schema import CreateIndex
from store_support import LEGACY_TEMPLATE, store_at_revision

import promptlab_nb as pl
from promptlab_nb.store import migrate
from promptlab_nb.store.models import Base

VIEW_INDEXES = {
    "postgresql": {
        "ix_run_experiment_id_row_index": ("run", ["experiment_id", "row_index"]),
        "ix_variant_target_name_kind": ("variant", ["target_name", "kind"]),
    },
    "duckdb": {},
}
INDEXES_QUERIES = {
    "postgresql": "select i.relname as name, t.relname as table_name, a.attname as column_name "
    "from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid "
    "join pg_attribute a on a.attrelid = t.oid and a.attnum = any(x.indkey) "
    "where t.relnamespace = current_schema()::regnamespace and t.relname in ('run', 'variant') "
    "and i.relname like 'ix\\_%' "
    "order by i.relname, array_position(x.indkey::int2[], a.attnum)",
    "duckdb": "select index_name as name, table_name, "
    "unnest(string_split(trim(expressions, '[]'), ', ')) as column_name from duckdb_indexes() "
    "where table_name in ('run', 'variant') and index_name like 'ix\\_%' escape '\\'",
}
LEGACY_RUNS = (
    LEGACY_TEMPLATE
    + ";insert into experiment (id, name, status, mode, repeats, row_count, settings, created_at, updated_at)"
    " values ('e1', 'legacy run', 'completed', 'live', 1, 2, '{}', now(), now())"
    ";insert into variant (id, experiment_id, position, label, kind, target_name, target_version,"
    " target_version_id, model, params) values ('va', 'e1', 0, 'legacy', 'template', 'legacy', 1, 'v1',"
    " 'mock:echo', '{}')"
    ";insert into experiment_row (experiment_id, row_index, inputs) values"
    " ('e1', 0, '{\"x\": \"Paris\"}'), ('e1', 1, '{\"x\": \"Lima\"}')"
    ';insert into run (id, experiment_id, variant_id, row_index, "repeat", status, mode, output, cache_hit)'
    " values ('r0', 'e1', 'va', 0, 0, 'ok', 'live', 'Old Paris', false),"
    " ('r1', 'e1', 'va', 1, 0, 'ok', 'live', 'Old Lima', false)"
    ";insert into score (id, experiment_id, run_id, evaluator, value, passed, created_at) values"
    " ('s0', 'e1', 'r0', 'contains:Paris', 1.0, true, now()), ('s1', 'e1', 'r1', 'contains:Paris', 0.0, false, now())"
)


def stored_indexes(url: str) -> dict[str, tuple[str, list[str]]]:
    """Index name -> (table, columns in order) of the store's run and variant tables (not the indexes of
    their keys and unique constraints)."""
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text(INDEXES_QUERIES[engine.dialect.name])).all()
    engine.dispose()
    indexes: dict[str, tuple[str, list[str]]] = {}
    for name, table, column in rows:
        indexes.setdefault(name, (table, []))[1].append(column.strip('"'))
    return indexes


def backend(url: str) -> str:
    return "duckdb" if url.startswith("duckdb") else "postgresql"


def declared_indexes(dialect: str) -> dict[str, tuple[str, list[str]]]:
    """The indexes models.py makes on run and variant when it creates them on ``dialect``."""
    statements: list = []
    engine = create_mock_engine(f"{dialect}://", lambda statement, *_, **__: statements.append(statement))
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[name] for name in ("run", "variant")])
    indexes = [statement.element for statement in statements if isinstance(statement, CreateIndex)]
    return {index.name: (index.table.name, [column.name for column in index.columns]) for index in indexes}


def test_a_store_from_before_the_view_indexes_upgrades_keeping_its_runs_and_scores(store_url):
    # Given a store at revision 0009 holding an experiment with two scored runs
    store_at_revision(store_url, "0009", LEGACY_RUNS)
    # When the current version opens it
    lab = pl.Lab(store_url)
    runs = lab.experiment("legacy run").runs
    scores = lab.templates.scores("legacy", "contains:Paris")
    lab.close()
    # Then it is at the newest revision and its runs, scores and template's scores read as before
    assert migrate.stored_revisions(create_engine(store_url)) == [migrate.head_revision()]
    assert runs[["row_index", "output", "x", "contains:Paris"]].values.tolist() == [
        [0, "Old Paris", "Paris", 1.0],
        [1, "Old Lima", "Lima", 0.0],
    ]
    assert (scores["experiment"].tolist(), scores["n"].tolist(), scores["mean"].tolist()) == (
        ["legacy run"],
        [2],
        [0.5],
    )


def test_an_upgraded_store_holds_the_view_indexes_its_planner_reads(store_url):
    # Given a store at revision 0009, before the view indexes
    store_at_revision(store_url, "0009", LEGACY_RUNS)
    before = stored_indexes(store_url)
    # When the current version opens it
    pl.Lab(store_url).close()
    # Then the backend's view indexes were added, on the columns the views filter on, and nothing else changed
    after = stored_indexes(store_url)
    expected = VIEW_INDEXES[backend(store_url)]
    assert set(before).isdisjoint(expected)
    assert after == before | expected


def test_a_new_store_holds_the_indexes_models_declare_for_its_backend(store_url):
    # Given the indexes models.py declares on run and variant
    declared = declared_indexes(backend(store_url))
    # When a new store is created
    pl.Lab(store_url).close()
    # Then it holds exactly those, the view indexes included on PostgreSQL
    assert stored_indexes(store_url) == declared
    assert set(VIEW_INDEXES[backend(store_url)]) <= set(declared)
