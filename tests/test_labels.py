"""Labels: a team points "production" at a template or pipeline version, runs and fetches it by that
label, and sees every move in the history."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from magic_support import printed_error, shown_in_notebook
from store_support import store_at_revision

import promptlab_nb as pl
from promptlab_nb.core import errors

ROWS = [{"text": "Paris"}, {"text": "Tokyo"}]


@pytest.fixture
def summarize(lab):
    """Template summarize with two versions; production points at version 1."""
    lab.templates.save("summarize", "Summarize: {{ text }}", model="mock:echo")
    lab.templates.save("summarize", "Briefly: {{ text }}", model="mock:echo")
    lab.templates.label("summarize", 1, "production")
    return lab


def moves(lab, name: str, kind: str = "templates") -> list[tuple]:
    history = getattr(lab, kind).label_history(name)
    return [
        (row.label, row.version, None if pd.isna(row.previous_version) else row.previous_version)
        for row in history.itertuples()
    ]


def test_a_label_fetches_the_version_it_points_at(summarize):
    lab = summarize
    # Given production on version 1 of a template whose latest is version 2
    # When the application fetches by label, and by the implicit latest
    production = lab.templates.get("summarize", label="production")
    latest = lab.templates.get("summarize", label="latest")
    # Then each is the version it names, and the record says which labels point at it
    assert (production.version, production.body, production.labels) == (1, "Summarize: {{ text }}", ["production"])
    assert (latest.version, latest.labels) == (2, [])
    assert lab.templates.labels("summarize") == {"production": 1}


def test_moving_a_label_is_recorded_with_who_and_when(summarize):
    lab = summarize
    # Given summarize with two versions, production on version 1
    # When production moves to version 2, then back to 1
    lab.templates.label("summarize", 2, "production")
    lab.templates.label("summarize", 1, "production")
    # Then it points at version 1, and the history has every move with the version before it
    assert lab.templates.get("summarize", label="production").version == 1
    assert moves(lab, "summarize") == [("production", 1, None), ("production", 2, 1), ("production", 1, 2)]
    history = lab.templates.label_history("summarize")
    assert history["moved_at"].is_monotonic_increasing
    assert history["moved_by"].str.contains(r"\(PID \d+\)").all()


def test_history_list_and_card_show_the_labels(summarize):
    lab = summarize
    # Given summarize with two versions, production on version 1
    lab.templates.label("summarize", 2, "staging")
    # When the user looks at the versions, the list and the card
    versions = {record.version: record.labels for record in lab.templates.history("summarize")}
    listing = lab.templates.list().set_index("name")
    card = lab.templates.get("summarize", 1)
    # Then each shows where the labels point
    assert versions == {1: ["production"], 2: ["staging"]}
    assert listing.loc["summarize", "labels"] == {"production": 1, "staging": 2}
    text, html = shown_in_notebook(card)
    assert "template summarize v1 [production]" in text
    assert "v1 [production]" in html


def test_a_run_pinned_by_label_stores_the_version_it_used(summarize):
    lab = summarize
    # Given an experiment run by label
    before = lab.run("summarize@production", ROWS, name="by-label", progress=False)
    # When the label moves afterwards
    lab.templates.label("summarize", 2, "production")
    after = lab.run("summarize@production", ROWS, name="after-move", progress=False)
    # Then the first experiment still says version 1 and re-runs it; the second ran version 2
    assert set(lab.experiment("by-label").runs["target_version"]) == {1}
    assert before.variants == ["summarize@1"] and after.variants == ["summarize@2"]
    assert lab.experiment("by-label").runs["output"].str.startswith("Summarize:").all()
    assert after.runs["output"].str.startswith("Briefly:").all()


def test_targets_compare_a_label_with_the_latest(summarize):
    lab = summarize
    # Given summarize with two versions, production on version 1
    # When production is compared with latest
    experiment = lab.compare(["summarize@production", "summarize@latest"], ROWS, progress=False)
    # Then the variants are the two versions
    assert experiment.variants == ["summarize@1", "summarize@2"]


def test_a_pipeline_step_pinned_by_label_runs_the_labelled_version(summarize):
    lab = summarize
    # Given a pipeline whose step follows production
    pipeline = lab.pipelines.save("digest", [{"template": "summarize@production", "output": "summary"}])
    assert (pipeline.steps[0].template, pipeline.steps[0].label, pipeline.steps[0].version) == (
        "summarize",
        "production",
        None,
    )
    assert "summarize@production -> summary" in shown_in_notebook(pipeline)[0]
    # When it runs before and after the label moves
    first = lab.run("digest", ROWS[:1], progress=False).runs["output"].tolist()
    lab.templates.label("summarize", 2, "production")
    second = lab.run("digest", ROWS[:1], progress=False).runs["output"].tolist()
    # Then each run used the version production pointed at then
    assert (first, second) == (["Summarize: Paris"], ["Briefly: Paris"])


def test_a_step_pinned_to_a_missing_label_or_to_a_version_and_a_label_is_refused(summarize):
    lab = summarize
    # Given summarize with two versions, production on version 1
    # When a pipeline step follows a label never set, or both a version and a label
    with pytest.raises(errors.LabelNotFound, match=r"has no label 'staging'"):
        lab.pipelines.save("digest", [{"template": "summarize@staging"}])
    with pytest.raises(errors.InvalidPipeline, match=r"step 1: .*a version or a label, not both"):
        lab.pipelines.save("digest", [{"template": "summarize", "version": 1, "label": "production"}])
    # Then no pipeline was saved
    assert lab.pipelines.list().empty


def test_pipelines_have_labels_too(summarize):
    lab = summarize
    # Given summarize with two versions, production on version 1
    lab.pipelines.save("digest", [{"template": "summarize@1", "output": "summary"}])
    lab.pipelines.save("digest", [{"template": "summarize@2", "output": "summary"}])
    # When production is put on version 1 of the pipeline
    labelled = lab.pipelines.label("digest", 1, "production")
    # Then the pipeline is fetched and run by that label, and listed with it
    assert labelled.labels == ["production"]
    assert lab.pipelines.get("digest", label="production").version == 1
    assert lab.run("digest@production", ROWS[:1], progress=False).variants == ["digest@1"]
    assert lab.pipelines.list().set_index("name").loc["digest", "labels"] == {"production": 1}
    assert moves(lab, "digest", "pipelines") == [("production", 1, None)]


@pytest.mark.parametrize(
    ("label", "says"),
    [
        ("prod release", "use letters, digits, '-' and '_'"),
        ("prod.1", "use letters, digits, '-' and '_'"),
        ("", "use letters, digits, '-' and '_'"),
        ("3", "reads as a version number"),
        ("latest", "always means the newest version"),
        ("LATEST", "always means the newest version"),
    ],
)
def test_an_invalid_label_name_is_refused_in_one_line(summarize, label, says):
    lab = summarize
    # Given production on version 1 of summarize
    # When a label with a bad name is set, Then one line says what is allowed, and nothing moved
    with pytest.raises(errors.InvalidLabel, match=says) as refused:
        lab.templates.label("summarize", 2, label)
    assert len(str(refused.value).splitlines()) == 1
    assert lab.templates.labels("summarize") == {"production": 1}


def test_labelling_a_missing_version_or_a_deleted_template_is_refused(summarize):
    lab = summarize
    # Given production on version 1 of summarize, whose latest is version 2
    # When the version does not exist, Then it is refused naming the history
    with pytest.raises(errors.TemplateNotFound, match=r"has no version 7; see its versions"):
        lab.templates.label("summarize", 7, "production")
    # When the template is deleted, Then it is refused naming restore
    lab.templates.delete("summarize")
    with pytest.raises(errors.TemplateDeleted, match=r"restore it with"):
        lab.templates.label("summarize", 2, "production")
    # Then the label never moved
    assert moves(lab, "summarize") == [("production", 1, None)]


def test_a_missing_label_is_named_with_how_to_set_it(summarize):
    lab = summarize
    # Given summarize with production and no staging label
    # When a label that was never set is fetched or run
    with pytest.raises(errors.LabelNotFound, match=r"has no label 'staging'; set it with lab.templates.label"):
        lab.templates.get("summarize", label="staging")
    with pytest.raises(errors.LabelNotFound, match=r"'staging'"):
        lab.run("summarize@staging", ROWS, progress=False)
    # Then no experiment was stored
    assert lab.experiments().empty


def test_a_version_and_a_label_together_are_refused(summarize):
    # Given production on version 1 of summarize
    # When a read names both a version and a label, Then it is refused saying to give one
    with pytest.raises(errors.InvalidData, match="a version or a label, not both"):
        summarize.templates.get("summarize", 1, label="production")


MOVER = textwrap.dedent(
    """
    import sys
    import promptlab_nb as pl
    url, version = sys.argv[1], int(sys.argv[2])
    lab = pl.Lab(url)
    lab.templates.get("shared")
    print("ready", flush=True)
    sys.stdin.readline()
    lab.templates.label("shared", version, "production")
    print("moved", flush=True)
    """
)


def test_two_processes_moving_one_label_at_once_end_with_one_winner_and_both_moves(store_url):
    # Given a template with two versions and two notebook processes ready to label it
    lab = pl.Lab(store_url)
    lab.templates.save("shared", "one {{ text }}")
    lab.templates.save("shared", "two {{ text }}")
    lab.close()
    movers = [
        subprocess.Popen(
            [sys.executable, "-c", MOVER, store_url, str(version)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for version in (1, 2)
    ]
    try:
        assert [mover.stdout.readline().strip() for mover in movers] == ["ready", "ready"]
        # When both move production at the same moment
        for mover in movers:
            mover.stdin.write("go\n")
            mover.stdin.flush()
        outputs = [mover.communicate(timeout=120) for mover in movers]
    finally:
        for mover in movers:
            mover.kill()
            mover.wait()
    # Then both succeed, the label points at one of the two versions, and both moves are in the history,
    # the later one starting from where the earlier one left it
    assert [out.strip() for out, _ in outputs] == ["moved", "moved"], [err for _, err in outputs]
    lab = pl.Lab(store_url)
    history = moves(lab, "shared")
    assert sorted(version for _, version, _ in history) == [1, 2]
    (_, first, before_first), (_, second, before_second) = history
    assert (before_first, before_second) == (None, first)
    assert lab.templates.labels("shared") == {"production": second}
    lab.close()


def test_a_store_from_before_labels_upgrades_in_place_and_takes_labels(store_url):
    # Given a store at revision 0005 holding a template
    store_at_revision(store_url, "0005")
    # When the current version opens it and labels the template
    lab = pl.Lab(store_url)
    lab.templates.label("legacy", 1, "production")
    # Then the template is kept and fetched by its label
    assert lab.templates.get("legacy", label="production").body == "Old {{ x }}"
    assert [record.version for record in lab.templates.history("legacy")] == [1]
    lab.close()


def test_magics_label_show_by_label_and_run_by_label(notebook_shell, capsys):
    shell = notebook_shell
    # Given a notebook with the extension loaded
    shell.run_cell("%%prompt greet\nHello {{ name }}\n").raise_error()
    shell.run_cell("%%prompt greet\nHi {{ name }}\n").raise_error()
    shell.user_ns["people"] = [{"name": "Ada"}]
    # When the user labels version 1 and shows and runs it by label
    labelled = shell.run_line_magic("prompt", "label greet 1 production")
    shown = shell.run_line_magic("prompt", "show greet --label production")
    experiment = shell.run_line_magic("prompt", "run greet@production --on people")
    history = shell.run_line_magic("prompt", "history greet")
    # Then each answers with version 1, and the history shows the label
    assert (labelled.version, labelled.labels) == (1, ["production"])
    assert (shown.version, shown.body) == (1, "Hello {{ name }}\n")
    assert experiment.runs["output"].tolist() == ["Hello Ada"]
    assert history.set_index("version")["labels"].to_dict() == {1: ["production"], 2: []}


def test_magics_refuse_a_bad_label_in_one_line(notebook_shell, capsys):
    shell = notebook_shell
    # Given a notebook with the extension loaded
    shell.run_cell("%%prompt greet\nHello {{ name }}\n").raise_error()
    # When the label is a number, or the version is missing
    number = printed_error(shell, "%prompt label greet 1 2", capsys)
    missing = printed_error(shell, "%prompt label greet 4 production", capsys)
    unset = printed_error(shell, "%prompt show greet --label staging", capsys)
    # Then each is one line saying what to do
    assert "reads as a version number" in number and len(number.splitlines()) == 1
    assert "has no version 4" in missing and len(missing.splitlines()) == 1
    assert "has no label 'staging'" in unset and len(unset.splitlines()) == 1
