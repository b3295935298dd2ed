"""Issue 16: old cache entries are cleared and the store compacted, on both backends."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from sqlalchemy import update

import promptlab_nb as pl
from promptlab_nb.core.errors import InvalidData
from promptlab_nb.core.ids import utcnow
from promptlab_nb.engine.cache import ResponseCache
from promptlab_nb.store.database import duckdb_file
from promptlab_nb.store.models import CacheEntry

COUNTRIES = [{"country": name} for name in ("France", "Spain", "Italy", "Peru")]


def cache_answers(lab: pl.Lab, rows: list[dict[str, str]], days_ago: int) -> None:
    """Run ``rows`` once (their answers cached), then date those cache entries ``days_ago`` days back."""
    lab.templates.save("capital", "What is the capital of {{ country }}?", model="mock:echo")
    before = utcnow()
    lab.run("capital", rows, progress=False)
    with lab.db.session() as session:
        session.execute(
            update(CacheEntry)
            .where(CacheEntry.created_at >= before)
            .values(created_at=utcnow() - timedelta(days=days_ago))
        )


def test_pruning_clears_only_the_cache_entries_older_than_asked(lab):
    # Given two answers cached 40 days ago and two cached today
    cache_answers(lab, COUNTRIES[:2], days_ago=40)
    cache_answers(lab, COUNTRIES[2:], days_ago=0)

    # When the cache is pruned of entries older than 30 days
    removed = lab.cache.prune(older_than="30d")

    # Then the old ones are gone, the recent ones stay, and the runs keep their outputs
    assert removed == 2
    assert lab.cache.count() == 2
    assert lab.cache.prune(older_than=timedelta(days=30)) == 0
    stored = lab.sql("select count(*) as runs from runs where output is not null")
    assert int(stored["runs"].iloc[0]) == 4


def test_a_pruned_answer_is_asked_again_and_cached_anew(lab):
    # Given an answer cached 10 days ago, pruned
    cache_answers(lab, COUNTRIES[:1], days_ago=10)
    lab.cache.prune(older_than="1w")

    # When the same call runs again
    experiment = lab.run("capital", COUNTRIES[:1], progress=False)

    # Then it was not a cache hit, and its answer is cached again
    assert not experiment.runs["cache_hit"].iloc[0]
    assert lab.cache.count() == 1


@pytest.mark.parametrize("age", ["30", "30 days", "-3d", "d", 30])
def test_an_age_that_is_not_one_says_how_to_write_it(lab, age):
    # When the cache is pruned with an age of the wrong form
    with pytest.raises(InvalidData) as raised:
        lab.cache.prune(older_than=age)

    # Then the error shows the form to use
    assert "'30d'" in str(raised.value)


def write_cache_entries(lab: pl.Lab, prefix: str, days_ago: int, count: int = 3000) -> None:
    entries = [
        {
            "key": f"{prefix}{index:060d}",
            "provider": "mock",
            "model": "echo",
            "response": {"text": os.urandom(500).hex(), "finish_reason": "stop"},
            "created_at": utcnow() - timedelta(days=days_ago),
        }
        for index in range(count)
    ]
    with lab.db.connection() as connection:
        ResponseCache.write(connection, entries)


def test_vacuum_frees_the_space_of_pruned_entries_for_new_ones(lab):
    # Given a store holding many cache entries from two months ago, vacuumed
    write_cache_entries(lab, "old", days_ago=60)
    lab.vacuum()
    file = duckdb_file(lab.db.url)
    full = file.stat().st_size if file else 0

    # When they are pruned and the store vacuumed, then as many new entries are written
    assert lab.cache.prune(older_than="30d") == 3000
    lab.vacuum()
    write_cache_entries(lab, "new", days_ago=0)
    lab.vacuum()

    # Then only the new entries are left; a DuckDB file did not grow for them, they took the old
    # ones' space (PostgreSQL reuses it once no older transaction on the server sees the old rows)
    assert lab.cache.count() == 3000
    assert lab.sql("select count(*) as old from response_cache where key like 'old%'")["old"].iloc[0] == 0
    if file is not None:
        assert file.stat().st_size < full * 1.5
