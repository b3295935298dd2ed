"""A store file deleted while a notebook still uses it: said plainly, never silently replaced by an empty store."""

from __future__ import annotations

import shutil

import pytest

import promptlab_nb as pl
from promptlab_nb.core.errors import StoreMissing


def test_a_store_deleted_under_a_live_lab_says_it_no_longer_exists_and_where_it_was(tmp_path):
    # Given a Lab that saved a template into a store in a folder
    folder = tmp_path / "project"
    lab = pl.Lab(folder / "promptlab.duckdb")
    lab.templates.save("greet", "Hello {{ name }}")

    # When the folder with the store is deleted and the Lab is used again
    shutil.rmtree(folder)
    with pytest.raises(StoreMissing) as raised:
        lab.templates.list()

    # Then the user is told the file no longer exists and where it was, and no empty store took its place
    assert str(raised.value).startswith(f"The store file no longer exists: it was at {folder / 'promptlab.duckdb'}.")
    assert not folder.exists()
    lab.close()


def test_a_deleted_store_file_is_not_recreated_empty_beside_its_folder(tmp_path):
    # Given a Lab on a store whose file alone is deleted
    lab = pl.Lab(tmp_path / "promptlab.duckdb")
    lab.templates.save("greet", "Hello {{ name }}")
    lab.db.dispose()
    (tmp_path / "promptlab.duckdb").unlink()

    # When the Lab saves again
    with pytest.raises(StoreMissing):
        lab.templates.save("greet", "Hello again {{ name }}")

    # Then no new store file appeared
    assert not (tmp_path / "promptlab.duckdb").exists()
    lab.close()
