"""Settings never show API keys or store passwords: not in %config listings, values or reprs."""

from __future__ import annotations

import pytest

from promptlab_nb.core.config import PromptLab

KEY = "sk-live-0123456789abcdef"
PASSWORD = "hunter2-s3cret"
URL_WITH_PASSWORD = f"postgresql+psycopg://analyst:{PASSWORD}@db.example.org:5432/prompts"
PROVIDERS = {
    "openai": {"api_key": KEY, "base_url": "http://localhost:8000/v1"},
    "openai-compatible": {"base_url": f"http://proxy:{PASSWORD}@proxy.example.org/v1", "api_key": KEY},
}


@pytest.fixture
def configured(notebook_shell):
    """The notebook's settings holding a key in ``providers`` and a password in ``db_url`` (the store is not opened)."""
    notebook_shell.user_ns["secret_providers"] = PROVIDERS
    notebook_shell.run_line_magic("config", "PromptLab.providers = secret_providers")
    notebook_shell.run_line_magic("config", f'PromptLab.db_url = "{URL_WITH_PASSWORD}"')
    return notebook_shell


def assert_no_secret(shown: str) -> None:
    assert KEY not in shown and PASSWORD not in shown, shown


def test_the_config_listing_the_readme_recommends_masks_keys_and_passwords(configured, capsys):
    # When the user lists the settings as the README says
    capsys.readouterr()
    configured.run_cell("%config PromptLab")
    listing = capsys.readouterr().out
    # Then the settings and where they point are shown, but no key and no password
    assert_no_secret(listing)
    assert "analyst:***@db.example.org:5432/prompts" in listing
    assert "'api_key': '***'" in listing and "http://localhost:8000/v1" in listing


@pytest.mark.parametrize("setting", ["providers", "db_url"])
def test_a_setting_shown_as_a_cell_value_is_masked(configured, capsys, setting):
    # When the user shows one setting as a cell's value
    capsys.readouterr()
    configured.run_cell(f"%config PromptLab.{setting}")
    shown = capsys.readouterr().out
    # Then it is masked, yet still the real value for the code that uses it
    assert_no_secret(shown)
    assert "***" in shown
    value = configured.run_line_magic("config", f"PromptLab.{setting}")
    assert value == (PROVIDERS if setting == "providers" else URL_WITH_PASSWORD)


def test_the_settings_repr_and_str_mask_keys_and_passwords():
    # Given settings holding a key and a password
    settings = PromptLab(db_url=URL_WITH_PASSWORD, providers=PROVIDERS)
    # When they are shown, Then every setting is there, masked
    for shown in (repr(settings), str(settings), repr(settings.providers), repr(settings.db_url)):
        assert_no_secret(shown)
    assert "db_url='postgresql+psycopg://analyst:***@db.example.org:5432/prompts'" in repr(settings)
    assert "'base_url': 'http://proxy:***@proxy.example.org/v1'" in repr(settings)
    # And the help text with current values masks them too
    assert_no_secret(PromptLab.class_get_help(settings))


def test_settings_reassigned_in_python_stay_masked():
    settings = PromptLab()
    settings.providers = {"anthropic": {"api_key": KEY}}
    settings.db_url = f"postgresql://u@h/db?sslmode=require&password={PASSWORD}"
    assert_no_secret(repr(settings))
    assert "providers={'anthropic': {'api_key': '***'}}" in repr(settings)
    assert "sslmode=require&password=***" in repr(settings)
    assert settings.providers["anthropic"]["api_key"] == KEY
