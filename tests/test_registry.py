"""Prompts served to applications: an application reads a template by label per request and renders it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event

import promptlab_nb as pl
from promptlab_nb.core import errors
from promptlab_nb.services.template_registry import TemplateRegistry
from promptlab_nb.services.templates import TemplateService

SUMMARIZE = "system:\nYou are a terse assistant.\nuser:\nSummarize in one sentence: {{ text }}"
SUMMARIZE_V2 = "system:\nYou are a very terse assistant.\nuser:\nSummarize in five words: {{ text }}"


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class StatementCounter:
    """Counts the SQL statements a store runs, to tell a read from the cache from a read from the store."""

    def __init__(self, lab) -> None:
        self.count = 0
        event.listen(lab.db.engine, "before_cursor_execute", self._seen)

    def _seen(self, *args) -> None:
        self.count += 1


@pytest.fixture
def notebook_lab(lab):
    """The lab where people save templates and move labels."""
    lab.templates.save("summarize", SUMMARIZE, model="openai:gpt-4o-mini", params={"temperature": 0.2})
    lab.templates.save("summarize", SUMMARIZE_V2, model="openai:gpt-4o-mini", params={"temperature": 0.0})
    lab.templates.label("summarize", 1, "production")
    return lab


@pytest.fixture
def app_lab(notebook_lab) -> Iterator[pl.Lab]:
    """An application's own Lab on the same store, another process in real life."""
    opened = pl.Lab(notebook_lab.url)
    yield opened
    opened.close()


def test_a_template_read_by_label_renders_messages_ready_for_an_sdk_with_its_model_and_params(app_lab):
    # Given a template whose version 1 is labelled production
    # When an application reads it by label and renders it
    prompt = app_lab.templates.get("summarize", label="production").render(text="DuckDB is embedded.")

    # Then it has the chat messages as any SDK takes them, with version 1's model and params
    assert prompt.messages == [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Summarize in one sentence: DuckDB is embedded."},
    ]
    assert (prompt.ref, prompt.model, prompt.params) == ("summarize@1", "openai:gpt-4o-mini", {"temperature": 0.2})
    assert (prompt.provider, prompt.model_name) == ("openai", "gpt-4o-mini")


def test_rendering_with_a_variable_missing_names_it(app_lab):
    # Given the production template, which needs `text`
    template = app_lab.templates.get("summarize", label="production")

    # When it is rendered without it
    with pytest.raises(errors.MissingVariables) as raised:
        template.render(style="short")

    # Then the error names the missing variable
    assert raised.value.missing == ["text"]
    assert "text" in str(raised.value)


def test_reads_by_label_latest_and_version_each_give_their_version(app_lab):
    # Given an application's Lab on a store with two versions of summarize, production on version 1
    # When the application reads the template three ways
    by_label = app_lab.templates.get("summarize", label="production")
    latest = app_lab.templates.get("summarize")
    pinned = app_lab.templates.get("summarize", version=2)

    # Then each is the version it names
    assert (by_label.version, latest.version, pinned.version) == (1, 2, 2)


def test_repeated_reads_after_the_first_do_not_reach_the_store(app_lab):
    # Given one read by label, one of the latest and one of a pinned version
    for read in ({"label": "production"}, {}, {"version": 1}):
        app_lab.templates.get("summarize", **read)
    statements = StatementCounter(app_lab)

    # When the application reads them again, as it would on every request, and renders
    for _ in range(100):
        app_lab.templates.get("summarize", label="production").render(text="x")
        app_lab.templates.get("summarize")
        app_lab.templates.get("summarize", version=1)

    # Then no statement ran on the store
    assert statements.count == 0


def test_a_label_moved_elsewhere_shows_once_the_time_to_live_has_passed(notebook_lab, app_lab):
    # Given an application's registry with a 5 second time to live, which has read the production version
    clock = FakeClock()
    registry = TemplateRegistry(app_lab.db, pl.PromptLab(registry_ttl=5.0), clock=clock)
    assert registry.get("summarize", label="production").version == 1

    # When the label moves to version 2 in the notebook
    notebook_lab.templates.label("summarize", 2, "production")

    # Then the application sees version 1 until the time to live has passed, then version 2
    clock.advance(4.9)
    assert registry.get("summarize", label="production").version == 1
    clock.advance(0.2)
    assert registry.get("summarize", label="production").version == 2


def test_the_latest_version_saved_elsewhere_shows_once_the_time_to_live_has_passed(notebook_lab, app_lab):
    # Given an application's registry that has read the latest version
    clock = FakeClock()
    registry = TemplateRegistry(app_lab.db, pl.PromptLab(registry_ttl=5.0), clock=clock)
    assert registry.get("summarize").version == 2

    # When the notebook saves version 3 and the time to live passes
    notebook_lab.templates.save("summarize", SUMMARIZE + "\nBe kind.", model="openai:gpt-4o-mini")
    clock.advance(5.0)

    # Then the application reads version 3
    assert registry.get("summarize").version == 3


def test_a_pinned_version_shows_labels_and_a_deletion_made_elsewhere_once_the_time_to_live_has_passed(
    notebook_lab, app_lab
):
    # Given an application's registry that has read version 2, which has no label
    clock = FakeClock()
    registry = TemplateRegistry(app_lab.db, pl.PromptLab(registry_ttl=5.0), clock=clock)
    first = registry.get("summarize", version=2)

    # When the notebook labels version 2 production, then deletes the template
    notebook_lab.templates.label("summarize", 2, "production")
    notebook_lab.templates.delete("summarize")

    # Then the application reads version 2 as it was until the time to live has passed, then as it is now
    clock.advance(4.9)
    assert registry.get("summarize", version=2) == first
    clock.advance(0.2)
    again = registry.get("summarize", version=2)
    assert (again.body, again.labels, again.deleted) == (first.body, ["production"], True)
    assert (first.labels, first.deleted) == ([], False)


def test_a_time_to_live_of_zero_reads_the_store_every_time_from_when_it_is_set(notebook_lab, app_lab):
    # Given an application that has read the production version, then turned the cache off
    assert app_lab.templates.get("summarize", label="production").version == 1
    app_lab.settings.registry_ttl = 0

    # When the label moves in the notebook
    notebook_lab.templates.label("summarize", 2, "production")

    # Then the next read sees it at once
    assert app_lab.templates.get("summarize", label="production").version == 2


def test_changes_made_through_the_same_lab_show_at_once(notebook_lab):
    # Given reads by label and of the latest version, cached
    notebook_lab.settings.registry_ttl = 3600
    assert notebook_lab.templates.get("summarize", label="production").version == 1
    assert notebook_lab.templates.get("summarize").version == 2

    # When this lab moves the label and saves a new version
    notebook_lab.templates.label("summarize", 2, "production")
    notebook_lab.templates.save("summarize", SUMMARIZE + "\nBe kind.", model="openai:gpt-4o-mini")

    # Then its next reads see both changes, without waiting for the time to live
    assert notebook_lab.templates.get("summarize", label="production").version == 2
    assert notebook_lab.templates.get("summarize").version == 3


def test_a_version_saved_by_any_unit_of_work_of_the_process_shows_at_once(notebook_lab):
    # Given the latest version read and cached
    notebook_lab.settings.registry_ttl = 3600
    assert notebook_lab.templates.get("summarize").version == 2

    # When a service saves version 3 in a unit of work of its own, as an experiment file or the optimizer does
    with notebook_lab.db.session() as session:
        TemplateService(session).save("summarize", SUMMARIZE + "\nBe kind.", model="openai:gpt-4o-mini")

    # Then the next read sees it
    assert notebook_lab.templates.get("summarize").version == 3


def test_reading_other_things_keeps_the_cache(notebook_lab):
    # Given a template read and cached
    notebook_lab.templates.get("summarize", label="production")
    statements = StatementCounter(notebook_lab)

    # When the lab lists templates and reads a history, which write nothing
    notebook_lab.templates.list()
    notebook_lab.templates.history("summarize")
    statements_before_the_read = statements.count
    notebook_lab.templates.get("summarize", label="production")

    # Then the read still comes from the cache
    assert statements.count == statements_before_the_read


def test_a_template_not_found_is_looked_up_again_on_the_next_read(notebook_lab, app_lab):
    # Given an application that asked for a template before anyone saved it
    with pytest.raises(errors.TemplateNotFound):
        app_lab.templates.get("translate")

    # When the notebook saves it
    notebook_lab.templates.save("translate", "Translate {{ text }}")

    # Then the application finds it on its next read
    assert app_lab.templates.get("translate").version == 1


def test_a_negative_time_to_live_is_refused():
    # Given the settings of a registry
    # When the setting is given a negative number
    # Then it is refused with what to write instead
    with pytest.raises(ValueError, match="registry_ttl must be 0"):
        pl.PromptLab(registry_ttl=-1)


def test_changing_a_template_an_application_read_changes_nothing_for_the_next_read(app_lab):
    # Given an application that read the production template and changed what it got
    template = app_lab.templates.get("summarize", label="production")
    template.params["temperature"] = 1.5
    template.labels.append("staging")

    # When it reads the template again, from the cache
    again = app_lab.templates.get("summarize", label="production")

    # Then the next read is the stored version, untouched
    assert (again.params, again.labels) == ({"temperature": 0.2}, ["production"])
    assert again.render(text="x").params == {"temperature": 0.2}


def test_a_read_under_way_while_this_process_moves_the_label_is_not_kept(app_lab):
    # Given an application with an hour's time to live, and a hook that moves the label to version 2 in this
    # process once a read has looked up where production points
    app_lab.settings.registry_ttl = 3600
    moved: list[bool] = []

    def move_label_during_the_read(conn, cursor, statement, *args) -> None:
        if not moved and "definition_label" in statement and statement.lstrip().lower().startswith("select"):
            moved.append(True)
            with app_lab.db.session() as session:
                TemplateService(session).label("summarize", 2, "production")

    event.listen(app_lab.db.engine, "after_cursor_execute", move_label_during_the_read)

    # When the read under way finishes, with the version production pointed at before the move
    during = app_lab.templates.get("summarize", label="production")
    event.remove(app_lab.db.engine, "after_cursor_execute", move_label_during_the_read)

    # Then the next read sees the move at once, without waiting for the time to live
    assert (moved, during.version) == ([True], 1)
    assert app_lab.templates.get("summarize", label="production").version == 2
