"""promptfoo configs import as experiment files and run directly, warning once per kind of thing left out."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from cli_support import one_line_error, printed, promptlab, write

from promptlab_nb.core.errors import InvalidFile
from promptlab_nb.services.promptfoo_import import convert_promptfoo_config

FIXTURES = Path(__file__).parent / "fixtures" / "promptfoo"
TRANSLATION = FIXTURES / "translation" / "promptfooconfig.yaml"


@pytest.fixture(scope="module")
def translation():
    return convert_promptfoo_config(TRANSLATION)


def test_prompts_from_strings_text_files_and_chat_json_become_templates_per_provider_config(translation):
    # Given promptfoo's translation example: prompts as strings, text files and chat JSON
    # When a config with three kinds of prompts and two differently configured providers is converted
    templates = {template["name"]: template for template in translation.document["templates"]}
    # Then each prompt runs on each provider, as a template with that provider's model and params
    assert sorted(templates) == sorted(
        f"{prompt}.{provider}"
        for prompt in ("prompt-1", "prompts-1", "prompts-2", "chat")
        for provider in ("openai-gpt-4o-mini", "anthropic-claude-haiku-4-5")
    )
    claude = templates["prompt-1.anthropic-claude-haiku-4-5"]
    assert (claude["model"], claude["params"]) == ("anthropic:claude-haiku-4-5", {"temperature": 0, "max_tokens": 50})
    assert (
        templates["chat.openai-gpt-4o-mini"]["body"] == "system:\nYou translate into {{ language }}.\nuser:\n{{ text }}"
    )
    # And Nunjucks' dump filter is Jinja's tojson
    assert templates["prompts-2.openai-gpt-4o-mini"]["body"] == "{{ text | tojson }}"


def test_tests_keep_their_own_assertions_with_default_vars_list_vars_and_csv_expectations(translation):
    # Given the translation example's tests: a default var, a list var, inline and CSV expectations
    # When the tests are converted
    rows = translation.document["data"]
    # Then the list var ran once per value, the default var is in every row, the CSV gave two rows
    assert [(row["language"], row["text"]) for row in rows] == [
        ("French", "cat"), ("French", "dog"), ("French", "hello"), ("French", "bye"),
    ]  # fmt: skip
    # And each row holds its own assertions, values rendered with its vars
    assert [item["label"] for item in rows[0]["assert"]] == [
        "icontains-any:chat|chien",
        "llm-rubric:Is a correct French translation",
    ]
    assert rows[2]["assert"] == [{"label": "icontains:bonjour", "type": "icontains", "value": "bonjour"}]
    assert rows[3]["assert"] == [{"label": "equals:au revoir", "type": "equals", "value": "au revoir"}]
    # And every distinct assertion is an evaluator, then the test verdict, gated as promptfoo gates
    assert translation.document["evaluators"] == [
        "assert:icontains-any:chat|chien",
        "assert:llm-rubric:Is a correct French translation",
        "assert:icontains:bonjour",
        "assert:equals:au revoir",
        "test",
    ]
    assert translation.document["thresholds"] == ["test >= 1"]


def test_what_cannot_be_mapped_is_one_warning_per_kind_and_keys_are_never_copied(translation):
    # Given the translation example, with JavaScript and Python assertions and a provider's API key
    # When it is converted, as the fixture did
    # Then the JavaScript and Python assertions and the provider's API key are each named once
    assert translation.warnings == [
        "promptfooconfig.yaml: provider config keys not imported: apiKey",
        "promptfooconfig.yaml: assertion types (promptlab cannot run them; the test verdict leaves them out) "
        "not imported: javascript, python",
    ]
    assert "sk-secret" not in translation.yaml_text()


def test_an_unknown_provider_is_refused_where_it_is_written(tmp_path):
    # Given a config with a provider promptlab cannot map
    write(tmp_path, "promptfooconfig.yaml", "prompts: ['{{ x }}']\nproviders:\n  - echo\n  - bedrock:titan\n")
    # When it is converted
    with pytest.raises(InvalidFile) as refused:
        convert_promptfoo_config(Path("promptfooconfig.yaml"))
    # Then the error points at the provider
    assert str(refused.value).startswith("promptfooconfig.yaml:4:5: providers[1]: unknown provider 'bedrock:titan'")


def test_running_a_promptfoo_config_fails_when_a_test_fails_as_promptfoo_eval_does(tmp_path):
    # Given promptfoo's verdict fixture, where most tests fail
    shutil.copy(FIXTURES / "promptfooconfig.yaml", tmp_path)
    # When promptlab runs it directly
    finished = promptlab("run", "promptfooconfig.yaml", "--json", "results.json", cwd=tmp_path)
    # Then the run fails on its test threshold, with the pass rate of the tests
    assert finished.code == 1, finished.err
    assert "FAIL prompt-1@1: test >= 1 (test is 0.1667, not >= 1)" in finished.out


def test_an_imported_config_runs_as_an_experiment_file_and_passes_when_every_test_passes(tmp_path):
    # Given a promptfoo config whose tests pass with the echo provider, converted to an experiment file
    write(
        tmp_path,
        "promptfooconfig.yaml",
        """
        prompts: ["Hello {{ name }}"]
        providers: [echo]
        tests:
          - vars: {name: Ada}
            assert: [{type: icontains, value: ada}, {type: not-contains, value: Bob, weight: 2}]
          - vars: {name: Bob}
            assert: [{type: starts-with, value: Hello}]
        """,
    )
    converted = promptlab("import", "promptfoo", "promptfooconfig.yaml", "-o", "experiment.yaml", cwd=tmp_path)
    # When the experiment file runs
    finished = promptlab("run", "experiment.yaml", cwd=tmp_path)
    # Then it passes, every assertion scored on its own rows only
    assert "Wrote experiment.yaml: 1 template, 1 model, 2 rows, 4 evaluators" in printed(converted)
    assert yaml.safe_load((tmp_path / "experiment.yaml").read_text())["models"] == ["mock:echo"]
    assert "PASS prompt-1@1: test >= 1" in printed(finished)
    assert "assert:icontains:ada" in finished.out and "assert:starts-with:Hello" in finished.out


def test_a_config_without_prompts_is_one_line_and_exit_2(tmp_path):
    # Given a config without prompts
    write(tmp_path, "promptfooconfig.yaml", "providers: [echo]\n")
    # When it runs
    finished = promptlab("run", "promptfooconfig.yaml", cwd=tmp_path)
    # Then one line says so
    assert one_line_error(finished) == "Error: promptfooconfig.yaml:1:1: the config has no prompts"
