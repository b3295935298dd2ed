"""Templates: a data scientist saves, edits, inspects and retires prompt templates."""

from __future__ import annotations

import pandas as pd
import pytest

from promptlab_nb.core import errors

SUMMARIZE = "system:\nYou are a terse assistant.\nuser:\nSummarize in one sentence: {{ text }}\n"


def assert_versions(lab, name: str, expected: list[int]) -> None:
    assert [template.version for template in lab.templates.history(name)] == expected


def test_first_save_creates_version_one_with_its_variables(lab):
    # Given an empty store
    # When a template is saved
    template = lab.templates.save("summarize", SUMMARIZE, model="mock:echo", params={"temperature": 0.2})
    # Then it is version 1 with the variables the body needs, and the store has it
    assert (template.name, template.version, template.unchanged) == ("summarize", 1, False)
    assert template.variables == ["text"]
    stored = lab.templates.get("summarize")
    assert (stored.body, stored.model, stored.params) == (SUMMARIZE, "mock:echo", {"temperature": 0.2})


def test_saving_identical_content_keeps_the_version_and_says_unchanged(lab):
    # Given a saved template
    lab.templates.save("summarize", SUMMARIZE, model="mock:echo")
    # When the same content is saved again, even with another description
    again = lab.templates.save("summarize", SUMMARIZE, model="mock:echo", description="same text")
    # Then no new version is made
    assert (again.version, again.unchanged) == (1, True)
    assert_versions(lab, "summarize", [1])


@pytest.mark.parametrize(
    "change",
    [{"body": SUMMARIZE + "Be kind.\n"}, {"model": "mock:other"}, {"params": {"temperature": 0.9}}],
    ids=["body", "model", "params"],
)
def test_changing_body_model_or_params_makes_the_next_version(lab, change):
    # Given version 1
    lab.templates.save("summarize", SUMMARIZE, model="mock:echo")
    # When one of body, model or params changes
    saved = lab.templates.save("summarize", **{"body": SUMMARIZE, "model": "mock:echo", **change})
    # Then version 2 exists and version 1 is still readable
    assert (saved.version, saved.previous_version) == (2, 1)
    assert lab.templates.get("summarize", version=1).body == SUMMARIZE
    assert lab.templates.get("summarize").version == 2


def test_list_shows_latest_version_variables_and_model(lab):
    # Given two templates, one with two versions
    lab.templates.save("summarize", SUMMARIZE, model="mock:echo")
    lab.templates.save("summarize", "Summarize {{ text }} for {{ audience }}", model="mock:echo")
    lab.templates.save("classify", "Classify: {{ text }}")
    # When the user lists them
    listing = lab.templates.list()
    # Then one row each, with the latest version
    assert isinstance(listing, pd.DataFrame)
    rows = listing.set_index("name")
    assert rows.loc["summarize", "version"] == 2
    assert list(rows.loc["summarize", "variables"]) == ["audience", "text"]
    assert rows.loc["summarize", "model"] == "mock:echo"
    assert sorted(rows.index) == ["classify", "summarize"]


def test_diff_shows_body_changes_and_changed_settings(lab):
    # Given two versions that differ in body and temperature
    lab.templates.save("summarize", "Summarize: {{ text }}", params={"temperature": 0.2})
    lab.templates.save("summarize", "Summarize briefly: {{ text }}", params={"temperature": 0.7})
    # When the user diffs them
    diff = lab.templates.diff("summarize", 1, 2)
    # Then the unified diff and the setting change are shown
    assert "-Summarize: {{ text }}" in diff.body_diff
    assert "+Summarize briefly: {{ text }}" in diff.body_diff
    assert diff.settings == {"temperature": (0.2, 0.7)}
    assert "temperature: 0.2 -> 0.7" in str(diff)


def test_duplicate_copies_the_latest_version_under_a_new_name(lab):
    # Given a template with two versions
    lab.templates.save("summarize", "v1 {{ text }}")
    lab.templates.save("summarize", "v2 {{ text }}", model="mock:echo")
    # When it is duplicated
    copy = lab.templates.duplicate("summarize", "summarize_terse")
    # Then the copy starts at version 1 with the latest content
    assert (copy.name, copy.version, copy.body, copy.model) == ("summarize_terse", 1, "v2 {{ text }}", "mock:echo")
    # And duplicating onto an existing name is refused
    with pytest.raises(errors.TemplateNameTaken):
        lab.templates.duplicate("summarize", "summarize_terse")


def test_soft_delete_hides_the_template_but_keeps_history_and_restore_brings_it_back(lab):
    # Given a saved template
    lab.templates.save("summarize", SUMMARIZE)
    # When it is deleted
    lab.templates.delete("summarize")
    # Then list and get no longer show it, history still does
    assert "summarize" not in lab.templates.list()["name"].tolist()
    with pytest.raises(errors.TemplateDeleted, match=r"restore"):
        lab.templates.get("summarize")
    assert_versions(lab, "summarize", [1])
    assert lab.templates.history("summarize")[0].deleted
    # And saving to the deleted name says so and offers restore
    with pytest.raises(errors.TemplateDeleted, match=r"lab.templates.restore\('summarize'\)"):
        lab.templates.save("summarize", "new body")
    # When it is restored
    lab.templates.restore("summarize")
    # Then it is back, unchanged
    assert lab.templates.get("summarize").body == SUMMARIZE


def test_unknown_template_and_version_say_where_to_look(lab):
    lab.templates.save("summarize", SUMMARIZE)
    with pytest.raises(errors.TemplateNotFound, match=r"lab.templates.list\(\)"):
        lab.templates.get("nope")
    with pytest.raises(errors.TemplateNotFound, match=r"no version 7"):
        lab.templates.get("summarize", version=7)


@pytest.mark.parametrize("name", ["has space", "slash/name", "", "-leading", "semi;colon", "x" * 201])
def test_invalid_names_are_refused_clearly(lab, name):
    with pytest.raises(errors.InvalidName, match=r"letters, digits"):
        lab.templates.save(name, "Hello")
    assert lab.templates.list().empty


def test_invalid_jinja_is_refused_with_its_line_and_nothing_is_saved(lab):
    # Given a body whose fourth line has a syntax error
    body = "system:\nBe terse.\nuser:\nSummarize {{ text }\n"
    # When it is saved
    with pytest.raises(errors.InvalidTemplate, match=r"line 4"):
        lab.templates.save("broken", body)
    # Then nothing was stored
    with pytest.raises(errors.TemplateNotFound):
        lab.templates.get("broken")


def test_invalid_model_spec_is_refused(lab):
    with pytest.raises(errors.InvalidModelSpec, match=r"provider:model"):
        lab.templates.save("summarize", SUMMARIZE, model="gpt-4o")
