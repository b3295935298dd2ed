"""Pipelines: each step's output becomes a variable for the next; failures are kept per step."""

from __future__ import annotations

import json

import pytest

import promptlab_nb as pl
from promptlab_nb.core import errors

ARTICLES = [{"text": "Paris is the capital of France."}, {"text": "Tokyo is the capital of Japan."}]


def facts_model(messages):
    text = messages[-1]["content"]
    city = text.split("Extract facts from: ")[1].split(" is")[0]
    return json.dumps({"city": city, "facts": [f"{city} is a capital"]})


@pytest.fixture
def digest(lab):
    pl.mock_model("facts", facts_model)
    lab.templates.save("extract_facts", "Extract facts from: {{ text }}", model="mock:facts")
    lab.templates.save("write_summary", "Summarize {{ facts.city }}: {{ facts.facts | join('; ') }}", model="mock:echo")
    return lab.pipelines.save(
        "digest",
        [
            {"template": "extract_facts", "output": "facts", "parse": "json"},
            {"template": "write_summary", "output": "summary"},
        ],
    )


def test_saving_a_pipeline_records_its_steps_inputs_and_outputs(lab, digest):
    assert (digest.name, digest.version) == ("digest", 1)
    assert digest.inputs == ["text"]
    assert digest.outputs == ["facts", "summary"]
    assert lab.pipelines.get("digest").steps[0].parse == "json"
    again = lab.pipelines.save("digest", [step.model_dump() for step in digest.steps])
    assert again.unchanged and again.version == 1


def test_each_step_sees_earlier_outputs_and_parsed_json(lab, digest):
    # When the pipeline runs over two articles
    experiment = lab.run("digest", ARTICLES, progress=False)
    # Then the run's output is the last step's, built from the first step's parsed JSON
    runs = experiment.runs
    assert runs["status"].tolist() == ["ok", "ok"]
    assert runs["output"].tolist() == ["Summarize Paris: Paris is a capital", "Summarize Tokyo: Tokyo is a capital"]
    # And every step is stored with its own prompt and output, and the run adds up its steps
    steps = experiment.steps
    assert len(steps) == 4
    first = steps[steps["position"] == 1].iloc[0]
    assert first["parsed"] == {"city": "Paris", "facts": ["Paris is a capital"]}
    assert first["template"] == "extract_facts@1"
    per_run = steps.groupby("run_id")["input_tokens"].sum()
    assert runs.set_index("run_id")["input_tokens"].to_dict() == per_run.to_dict()


def test_a_failing_step_fails_the_run_and_keeps_earlier_steps(lab, digest):
    # Given a second step whose model fails
    model = pl.mock_model("broken", "never")
    model.errors.extend([errors.BadRequest("context too long", provider="mock")] * 2)
    lab.templates.save("write_summary", "Summarize {{ facts.city }}", model="mock:broken")
    # When the pipeline runs
    experiment = lab.run("digest", ARTICLES, progress=False)
    # Then runs failed at the summary step with the reason, and the facts step is kept
    runs = experiment.runs
    assert runs["status"].tolist() == ["error", "error"]
    assert runs["failed_step"].tolist() == ["summary", "summary"]
    assert runs["error"].str.contains("context too long").all()
    steps = experiment.steps
    assert steps.groupby("position")["status"].agg(set).to_dict() == {1: {"ok"}, 2: {"error"}}


def test_output_that_is_not_json_fails_the_parsing_step(lab, digest):
    pl.mock_model("facts", "not json at all")
    runs = lab.run("digest", ARTICLES[:1], progress=False).runs
    assert runs["status"].tolist() == ["error"]
    assert runs["failed_step"].tolist() == ["facts"]
    assert "not valid JSON" in runs["error"].iloc[0]


def test_fenced_json_is_accepted(lab, digest):
    pl.mock_model("facts", '```json\n{"city": "Lima", "facts": ["x"]}\n```')
    assert lab.run("digest", ARTICLES[:1], progress=False).runs["output"].tolist() == ["Summarize Lima: x"]


def test_a_variable_used_before_it_is_produced_is_refused_at_save(lab, digest):
    with pytest.raises(errors.InvalidPipeline, match=r"step 1 \(write_summary\) uses 'facts' before"):
        lab.pipelines.save(
            "backwards", [{"template": "write_summary"}, {"template": "extract_facts", "output": "facts"}]
        )


def test_duplicate_output_names_are_refused(lab, digest):
    with pytest.raises(errors.InvalidPipeline, match=r"reuses the output name 'facts'"):
        lab.pipelines.save(
            "twice",
            [{"template": "extract_facts", "output": "facts"}, {"template": "extract_facts", "output": "facts"}],
        )


def test_declared_inputs_must_cover_every_variable(lab, digest):
    with pytest.raises(errors.InvalidPipeline, match=r"needs 'text', which is neither an input nor an earlier output"):
        lab.pipelines.save("strict", [{"template": "extract_facts", "output": "facts"}], inputs=["article"])


def test_unknown_template_in_a_step_is_named(lab):
    with pytest.raises(errors.TemplateNotFound, match=r"'ghost'"):
        lab.pipelines.save("p", [{"template": "ghost"}])


def test_step_model_override_and_pinned_template_versions(lab, digest):
    lab.templates.save("write_summary", "NEW {{ facts.city }}", model="mock:echo")
    pinned = lab.pipelines.save(
        "digest_v1",
        [
            {"template": "extract_facts", "output": "facts", "parse": "json"},
            {"template": "write_summary@1", "output": "summary", "model": "mock:echo"},
        ],
    )
    assert pinned.steps[1].version == 1
    runs = lab.run("digest_v1", ARTICLES[:1], progress=False).runs
    assert runs["output"].tolist() == ["Summarize Paris: Paris is a capital"]


def test_pipelines_and_templates_compare_side_by_side(lab, digest):
    experiment = lab.compare(["digest", "extract_facts"], ARTICLES, progress=False)
    assert sorted(set(experiment.runs["variant"])) == ["digest@1", "extract_facts@1"]
    assert set(experiment.runs["status"]) == {"ok"}


def test_pipeline_history_delete_and_restore(lab, digest):
    lab.pipelines.save("digest", [{"template": "extract_facts", "output": "facts"}])
    assert [p.version for p in lab.pipelines.history("digest")] == [1, 2]
    lab.pipelines.delete("digest")
    assert lab.pipelines.list().empty
    lab.pipelines.restore("digest")
    assert lab.pipelines.list()["name"].tolist() == ["digest"]


def test_pinned_steps_are_stored_as_the_json_older_stores_hold_and_run_from_it(lab, digest):
    # Given a planned pipeline experiment
    experiment = lab.plan("digest", ARTICLES[:1])
    # When its settings are read from the store as text
    with lab.db.connection() as connection:
        stored = connection.exec_driver_sql("select settings from experiment").scalar_one()
    # Then each pinned step is the JSON object every earlier version stored, key for key and in order
    (steps,) = json.loads(stored)["pipeline_steps"].values()
    assert [list(step) for step in steps] == [
        ["position", "name", "template", "version", "model", "params", "output", "parse"]
    ] * 2
    assert steps[0] == {
        "position": 1,
        "name": "facts",
        "template": "extract_facts",
        "version": 1,
        "model": "mock:facts",
        "params": {},
        "output": "facts",
        "parse": "json",
    }
    # And the experiment runs from those stored steps
    assert experiment.resume(progress=False).runs["output"].tolist() == ["Summarize Paris: Paris is a capital"]
