"""Opening stores: defaults, migrations, refusing what is not ours, and two notebooks on one file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import create_engine, text
from store_support import store_at_revision

import promptlab_nb as pl
from promptlab_nb.core import errors
from promptlab_nb.store import migrate
from promptlab_nb.store.database import resolve_url

HEAD = migrate.head_revision()


def stored_revision(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as connection:
        revision = connection.execute(text("select version_num from alembic_version")).scalar_one()
    engine.dispose()
    return revision


def test_lab_without_arguments_opens_promptlab_duckdb_in_the_current_folder(tmp_path):
    # Given an empty working folder and no PROMPTLAB_URL
    # When a Lab opens with no URL
    lab = pl.Lab()
    lab.templates.save("hello", "Hello {{ name }}")
    lab.close()
    # Then the store is ./promptlab.duckdb, migrated to the newest schema
    assert (tmp_path / "promptlab.duckdb").exists()
    assert stored_revision(f"duckdb:///{tmp_path / 'promptlab.duckdb'}") == HEAD


def test_promptlab_url_environment_variable_chooses_the_store(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTLAB_URL", str(tmp_path / "team" / "shared.duckdb"))
    lab = pl.Lab()
    assert lab.url == resolve_url(tmp_path / "team" / "shared.duckdb")
    assert (tmp_path / "team" / "shared.duckdb").exists()


def test_a_store_from_an_older_version_upgrades_in_place_keeping_its_data(store_url):
    # Given a store at the first schema revision holding a template
    store_at_revision(store_url, "0001")
    # When the current version opens it
    lab = pl.Lab(store_url)
    # Then it is upgraded and the template is still there and usable
    assert stored_revision(store_url) == HEAD
    assert lab.templates.get("legacy").render(x="data").messages[0]["content"] == "Old data"
    assert lab.sql("select count(*) as n from runs")["n"].iloc[0] == 0
    lab.close()


def test_a_store_from_a_newer_version_is_refused_and_left_untouched(duckdb_url):
    # Given a store whose schema revision this code does not know
    pl.Lab(duckdb_url).close()
    engine = create_engine(duckdb_url)
    with engine.begin() as connection:
        connection.execute(text("update alembic_version set version_num = '9999_future'"))
    engine.dispose()
    path = Path(duckdb_url.removeprefix("duckdb:///"))
    before = path.read_bytes()
    # When it is opened, Then a clear error says to upgrade
    with pytest.raises(errors.StoreTooNew, match=r"pip install -U promptlab_nb"):
        pl.Lab(duckdb_url)
    assert path.read_bytes() == before


def test_a_store_from_a_newer_version_is_refused_on_either_backend(store_url):
    # Given a store whose schema revision this code does not know
    pl.Lab(store_url).close()
    engine = create_engine(store_url)
    with engine.begin() as connection:
        connection.execute(text("update alembic_version set version_num = '9999_future'"))
    engine.dispose()
    # When it is opened, Then it is refused and its revision is left as it was
    with pytest.raises(errors.StoreTooNew, match=r"pip install -U promptlab_nb"):
        pl.Lab(store_url)
    assert stored_revision(store_url) == "9999_future"


def test_the_head_revision_read_from_the_migration_files_is_alembics():
    # Given the migration scripts the package ships
    from promptlab_nb.store.alembic_upgrade import script_head

    # When the head is read without Alembic, Then it is the head Alembic finds
    assert migrate.head_revision() == script_head()


OPEN_AND_LIST_ALEMBIC = textwrap.dedent(
    """
    import sys
    import promptlab_nb as pl
    pl.Lab(sys.argv[1]).close()
    print(sorted(name for name in sys.modules if name.split(".")[0] == "alembic"))
    """
)


def test_opening_an_up_to_date_store_does_not_import_alembic(store_url):
    # Given a store at the newest revision
    pl.Lab(store_url).close()
    # When another process opens it
    opened = subprocess.run(
        [sys.executable, "-c", OPEN_AND_LIST_ALEMBIC, store_url], capture_output=True, text=True, timeout=120
    )
    # Then Alembic was not imported: there was nothing to migrate
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.strip() == "[]"


def test_a_file_that_is_not_a_database_is_refused_and_left_untouched(tmp_path):
    notes = tmp_path / "notes.duckdb"
    notes.write_text("my precious notes\n" * 100)
    with pytest.raises(errors.InvalidStore, match=r"not a DuckDB database"):
        pl.Lab(notes)
    assert notes.read_text() == "my precious notes\n" * 100


def test_a_database_with_other_tables_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "analytics.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("create table sales (amount integer)")
    with pytest.raises(errors.InvalidStore, match=r"sales"):
        pl.Lab(path)
    with duckdb.connect(str(path)) as connection:
        assert connection.execute("select table_name from information_schema.tables").fetchall() == [("sales",)]


WRITER = textwrap.dedent(
    """
    import sys
    import promptlab_nb as pl
    url, who, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lab = pl.Lab(url)
    for index in range(count):
        lab.templates.save("shared", f"{who} {index}: {{{{ text }}}}")
        lab.templates.save(f"own-{who}", f"version {index} {{{{ text }}}}")
    """
)


def test_two_processes_write_one_duckdb_store_at_once_without_losing_anything(tmp_path):
    # Given a DuckDB store and two notebook processes
    url = f"duckdb:///{tmp_path / 'shared.duckdb'}"
    pl.Lab(url).close()
    count = 25
    # When both save templates at the same time
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, url, who, str(count)], stderr=subprocess.PIPE, text=True)
        for who in ("alice", "bob")
    ]
    failures = [writer.communicate(timeout=120)[1] for writer in writers if writer.wait(timeout=120) != 0]
    # Then both succeed and every version of both is stored
    assert failures == []
    lab = pl.Lab(url)
    assert len(lab.templates.history("shared")) == 2 * count
    assert len(lab.templates.history("own-alice")) == count
    assert len(lab.templates.history("own-bob")) == count


HOLDER = textwrap.dedent(
    """
    import sys, time, duckdb
    connection = duckdb.connect(sys.argv[1])
    print("holding", flush=True)
    time.sleep(30)
    """
)


def test_a_store_held_too_long_by_another_process_names_the_holder(tmp_path):
    # Given another process that keeps the DuckDB file open
    path = tmp_path / "busy.duckdb"
    pl.Lab(path).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        settings = pl.PromptLab(lock_timeout=0.5)
        started = time.monotonic()
        # When a Lab tries to use it, Then it waits the lock timeout and names the holder
        with pytest.raises(errors.StoreLocked, match=rf"PID {holder.pid}"):
            pl.Lab(path, settings=settings)
        assert time.monotonic() - started >= 0.5
    finally:
        holder.kill()
        holder.wait()
