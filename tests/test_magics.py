"""The notebook interface: what a user types in cells and what the notebook shows back."""

from __future__ import annotations

import pandas as pd
import pytest
from magic_support import printed_one_line_error

import promptlab_nb as pl
from promptlab_nb.notebook import session

CAPITAL = "system:\nYou are terse.\nuser:\nWhat is the capital of {{ country }}?"


@pytest.fixture
def ip(notebook_shell):
    notebook_shell.user_ns["countries"] = pd.DataFrame({"country": ["France", "Japan"], "expected": ["Paris", "Tokyo"]})
    return notebook_shell


def test_prompt_cell_saves_a_version_and_shows_its_card(ip):
    # Given a notebook with the extension loaded and no template yet
    # When a user runs a %%prompt cell
    saved = ip.run_cell_magic("prompt", "capital --model mock:echo --temperature 0.2", CAPITAL)
    # Then the template is stored and the card names version, variables and model
    assert "template capital v1" in repr(saved)
    html = saved._repr_html_()
    assert "capital" in html and "country" in html and "mock:echo" in html
    stored = pl.current_lab().templates.get("capital")
    assert (stored.version, stored.params) == (1, {"temperature": 0.2})


def test_rerunning_an_unchanged_cell_says_unchanged_and_an_edit_shows_the_diff(ip):
    # Given a %%prompt cell run once
    ip.run_cell_magic("prompt", "capital", CAPITAL)
    # When it is run again unchanged, then edited
    again = ip.run_cell_magic("prompt", "capital", CAPITAL)
    edited = ip.run_cell_magic("prompt", "capital", CAPITAL.replace("terse", "kind"))
    # Then the first says unchanged, the second is version 2 with the diff
    assert "v1 (unchanged)" in repr(again)
    assert "v2 (was v1)" in repr(edited)
    assert "-You are terse." in repr(edited) and "+You are kind." in repr(edited)


def test_prompt_cell_options_become_params(ip):
    # Given a JSON schema in a notebook variable
    ip.user_ns["answer_schema"] = {"type": "object", "properties": {"city": {"type": "string"}}}
    # When cells are saved with options, -p settings, --schema, --json and --description
    ip.run_cell_magic("prompt", "capital --max-tokens 50 -p top_p=0.9 -p stop=END --schema answer_schema", CAPITAL)
    ip.run_cell_magic("prompt", "terse --json --description 'short answers'", "{{ q }}")
    # Then each is a param, or the description, of the stored version
    params = pl.current_lab().templates.get("capital").params
    assert params == {"max_tokens": 50, "top_p": 0.9, "stop": "END", "response_format": ip.user_ns["answer_schema"]}
    terse = pl.current_lab().templates.get("terse")
    assert terse.params == {"response_format": "json"} and terse.description == "short answers"


def test_prompt_cell_with_on_saves_then_runs_over_the_data(ip):
    # Given the countries DataFrame in the notebook
    # When a %%prompt cell names it with --on, two repeats and an evaluator
    experiment = ip.run_cell_magic("prompt", "capital --on countries --repeats 2 --eval contains:France", CAPITAL)
    # Then every row ran twice and was scored
    runs = experiment.runs
    assert len(runs) == 4 and set(runs["status"]) == {"ok"}
    assert runs.groupby("country")["contains:France"].mean().to_dict() == {"France": 1.0, "Japan": 0.0}


def test_prompt_cell_with_run_uses_notebook_variables_and_prints_the_output(ip, capsys):
    # Given a notebook variable named as the template's variable
    ip.user_ns["country"] = "Peru"
    capsys.readouterr()
    # When the cell is run with --run
    experiment = ip.run_cell_magic("prompt", "capital --run", CAPITAL)
    # Then the output is printed and stored as one run
    assert "What is the capital of Peru?" in capsys.readouterr().out
    assert experiment.runs["output"].str.contains("Peru").all()


def test_line_magics_return_objects(ip):
    # Given two templates
    ip.run_cell_magic("prompt", "capital", CAPITAL)
    ip.run_cell_magic("prompt", "capital_terse", "Capital of {{ country }}? One word.")
    # When they are compared and run by line magics
    experiment = ip.run_line_magic(
        "prompt", "compare capital capital_terse --on countries --name capitals --eval equals:expected"
    )
    single = ip.run_line_magic(
        "prompt", "run capital --on countries --model mock:echo -p temperature=0 -p temperature=1"
    )
    # Then each magic returns an object to keep: experiments, DataFrames, definitions
    assert isinstance(experiment, pl.Experiment) and experiment.name == "capitals"
    assert len(experiment.runs) == 4
    assert sorted(set(single.runs["variant"])) == ["capital@1 | temperature=0", "capital@1 | temperature=1"]
    assert list(ip.run_line_magic("prompt", "list")["name"]) == ["capital", "capital_terse"]
    assert ip.run_line_magic("prompt", "show capital").name == "capital"
    assert ip.run_line_magic("prompt", "history capital")["version"].tolist() == [1]
    assert "capitals" in ip.run_line_magic("prompt", "experiments")["name"].tolist()
    runs = ip.run_line_magic("prompt", "runs --experiment capitals")
    assert len(runs) == 4 and "equals:expected" in runs.columns


def test_lifecycle_subcommands(ip):
    # Given a template with two versions
    ip.run_cell_magic("prompt", "capital", CAPITAL)
    ip.run_cell_magic("prompt", "capital", CAPITAL + " Answer in French.")
    # When its versions are diffed and shown, and a duplicate deleted and restored
    diff = ip.run_line_magic("prompt", "diff capital 1 2")
    first = ip.run_line_magic("prompt", "show capital --version 1")
    duplicate = ip.run_line_magic("prompt", "duplicate capital capital_fr")
    ip.run_line_magic("prompt", "delete capital_fr")
    listed_after_delete = list(ip.run_line_magic("prompt", "list")["name"])
    ip.run_line_magic("prompt", "restore capital_fr")
    # Then each subcommand did what it says
    assert "+What is the capital of {{ country }}? Answer in French." in str(diff)
    assert first.version == 1 and duplicate.name == "capital_fr"
    assert "capital_fr" not in listed_after_delete
    assert "capital_fr" in list(ip.run_line_magic("prompt", "list")["name"])


def test_pipeline_cell_saves_steps_and_shows_inputs_and_outputs(ip):
    # Given two templates, the second reading the first's output
    ip.run_cell_magic("prompt", "extract_facts", "Facts about {{ country }}")
    ip.run_cell_magic("prompt", "write_summary", "Summary of {{ facts }}")
    # When a %%pipeline cell chains them
    pipeline = ip.run_cell_magic(
        "pipeline",
        "digest",
        "- template: extract_facts\n  output: facts\n- template: write_summary\n  output: summary\n",
    )
    # Then its card shows inputs and outputs, and it runs each row through both steps
    assert pipeline.inputs == ["country"] and pipeline.outputs == ["facts", "summary"]
    assert "pipeline digest v1" in repr(pipeline)
    runs = ip.run_line_magic("prompt", "run digest --on countries").runs
    assert runs["output"].tolist() == ["Summary of Facts about France", "Summary of Facts about Japan"]
    assert ip.run_line_magic("prompt", "history digest")["steps"].iloc[0] == ["extract_facts", "write_summary"]


def test_help_lists_every_subcommand(ip, capsys):
    # Given a notebook with the extension loaded
    # When the user asks for help
    ip.run_line_magic("prompt", "help")
    printed = capsys.readouterr().out
    # Then every subcommand is named
    for command in (
        "run",
        "compare",
        "list",
        "show",
        "history",
        "diff",
        "duplicate",
        "delete",
        "restore",
        "experiments",
        "runs",
        "models",
    ):
        assert f"{command}" in printed


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("%prompt", "needs a subcommand"),
        ("%prompt bogus", "Unknown subcommand 'bogus'"),
        ("%prompt show", "the following arguments are required: NAME"),
        ("%prompt run capital --on countries --frobnicate", "unrecognized arguments: --frobnicate"),
        ("%prompt run capital --on nowhere", "--on nowhere: no notebook variable or file"),
        ("%prompt run capital --on answer", "a int is not tabular"),
        ("%prompt run capital --on wrong_columns", "Columns in the data: nation"),
        ("%prompt show ghost", "No template or pipeline named 'ghost'"),
        ("%prompt diff capital one two", "invalid int value"),
        ("%%prompt bad/name\nhello", "letters, digits"),
        ("%%prompt broken\nHello {{ name }", "line 2"),
        ("%%pipeline p\n- template: capital\n  output: [x\n", "at line 4, column 1"),
        ("%%pipeline p\n- template: ghost\n", "No template named 'ghost'"),
        ("%%prompt capital --run\n{{ undefined_thing }}", "--run needs notebook variables for undefined_thing"),
        ("%prompt run capital --on countries --eval regex:(", "regex"),
    ],
)
def test_user_mistakes_are_one_line_without_traceback(ip, capsys, cell, expected):
    # Given a template and notebook variables that are no data for it
    ip.run_cell_magic("prompt", "capital", CAPITAL)
    ip.user_ns["answer"] = 42
    ip.user_ns["wrong_columns"] = [{"nation": "France"}]
    # When / Then a mistaken cell prints one line saying what is wrong
    assert expected in printed_one_line_error(ip, cell, capsys)


def test_nothing_is_saved_half_way_by_a_failing_pipeline_cell(ip, capsys):
    # Given no template named ghost
    # When a pipeline cell names it
    printed_one_line_error(ip, "%%pipeline p\n- template: ghost\n", capsys)
    # Then no pipeline was saved
    assert pl.current_lab().pipelines.list().empty


def test_config_lists_settings_and_changes_the_kernel_lab(ip, capsys, tmp_path):
    # Given a notebook with the extension loaded
    capsys.readouterr()
    # When %config lists the settings, then changes the store and the cost limit
    ip.run_line_magic("config", "PromptLab")
    listing = capsys.readouterr().out
    ip.run_line_magic("config", f'PromptLab.db_url = "{tmp_path / "other.duckdb"}"')
    location = pl.current_lab().db.location
    ip.run_line_magic("config", "PromptLab.cost_limit = 0.5")
    # Then every setting is listed and the kernel's lab follows each change
    for setting in ("default_model", "db_url", "concurrency", "cache", "cost_limit", "display_rows"):
        assert f"PromptLab.{setting}" in listing
    assert location == str(tmp_path / "other.duckdb")
    assert pl.current_lab().settings.cost_limit == 0.5


def test_html_from_templates_and_outputs_is_escaped(ip):
    # Given a model answering with script and image tags
    pl.mock_model("evil", "<script>alert(1)</script><img src=x onerror=alert(2)>")
    # When a template with HTML in its body is saved and run on it
    saved = ip.run_cell_magic("prompt", "evil --model mock:evil", "<b>{{ country }}</b>")
    experiment = ip.run_line_magic("prompt", "run evil --on countries")
    # Then the card and the experiment show the HTML as text
    card = saved._repr_html_()
    assert "<b>{{ country }}</b>" not in card and "&lt;b&gt;{{ country }}&lt;/b&gt;" in card
    html = experiment._repr_html_()
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_python_api_and_magics_share_the_kernel_lab(ip):
    # Given a template saved by a magic
    ip.run_cell_magic("prompt", "capital", CAPITAL)
    # When / Then the Python API's lab is the magics' and reads it
    assert pl.current_lab() is session.current_lab()
    assert pl.current_lab().templates.get("capital").version == 1


def test_pl_lab_is_the_former_name_of_current_lab_and_both_give_the_kernel_lab(ip):
    # Given a template saved through the magics, so the kernel's lab is open
    ip.run_cell_magic("prompt", "capital", CAPITAL)
    # When a notebook asks for the lab by its new and by its former name
    current, former = pl.current_lab(), pl.lab()
    # Then both are the one Lab the magics use, and the public surface names both
    assert current is former is session.current_lab()
    assert current.templates.get("capital").version == 1
    assert {"current_lab", "lab"} <= set(pl.__all__)


def test_promptlab_env_variables_set_the_defaults(monkeypatch, tmp_path):
    # Given PROMPTLAB_URL and PROMPTLAB_MODEL in the environment
    monkeypatch.setenv("PROMPTLAB_URL", str(tmp_path / "env.duckdb"))
    monkeypatch.setenv("PROMPTLAB_MODEL", "mock:json")
    # When the settings are made
    settings = pl.PromptLab()
    # Then they are the store and the default model
    assert (settings.db_url, settings.default_model) == (str(tmp_path / "env.duckdb"), "mock:json")


def test_models_lists_providers_and_credentials_without_keys(ip, monkeypatch):
    # Given an OpenAI key and no Anthropic key in the environment
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value-123")
    # When the models are listed
    models = ip.run_line_magic("prompt", "models")
    # Then OpenAI's have credentials, Anthropic's not, and the key is not shown
    openai = models[models["provider"] == "openai"]
    assert openai["credentials"].all() and not models[models["provider"] == "anthropic"]["credentials"].any()
    assert "gpt-4o-mini" in set(openai["model"])
    assert "sk-secret-value-123" not in models.to_string()


def test_loading_the_extension_imports_no_provider_sdk_and_no_store_code():
    import json
    import subprocess
    import sys

    # Given a fresh interpreter
    probe = (
        "import json, sys\n"
        "from IPython.testing import globalipapp\n"
        "globalipapp.start_ipython()\n"
        "globalipapp.get_ipython().run_line_magic('load_ext', 'promptlab_nb')\n"
        "print(json.dumps(sorted(m for m in ('openai', 'anthropic', 'google.genai', 'sqlalchemy', 'duckdb', 'pandas')"
        " if m in sys.modules)))\n"
    )
    # When it loads the extension
    printed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    # Then no provider SDK, store library or pandas was imported
    assert json.loads(printed.strip().splitlines()[-1]) == []


def test_the_extension_loads_from_ipython_config_without_load_ext(tmp_path):
    import subprocess
    import sys

    # Given an IPython profile that lists the extension
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_config.py").write_text('c.InteractiveShellApp.extensions = ["promptlab_nb"]\n')
    # When IPython starts with it and runs %prompt help
    shown = subprocess.run(
        [sys.executable, "-m", "IPython", f"--ipython-dir={tmp_path / 'ipython'}", "-c", "%prompt help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # Then the magic answers without a %load_ext
    assert "%prompt compare" in shown


def test_resaving_a_pipeline_cell_shows_its_step_settings_and_what_changed(ip):
    # Given a pipeline of one step
    ip.run_cell_magic("prompt", "extract_facts", "Facts about {{ country }}")
    ip.run_cell_magic("pipeline", "facts_only", "- template: extract_facts\n  output: facts\n")
    # When the cell is saved again with a temperature on the step
    changed = ip.run_cell_magic(
        "pipeline", "facts_only", "- template: extract_facts\n  output: facts\n  params:\n    temperature: 0.3\n"
    )
    # Then the card shows version 2, the step's setting and the diff
    shown = repr(changed)
    assert "pipeline facts_only v2 (was v1)" in shown
    assert "extract_facts -> facts (temperature=0.3)" in shown
    assert "+  params:" in shown and "+    temperature: 0.3" in shown
    assert "temperature" in changed._repr_html_()


def test_the_progress_setting_turns_the_bar_off_for_the_magics(ip, capsys):
    # Given a template and the progress bar turned off
    ip.run_cell_magic("prompt", "capital", CAPITAL)
    ip.run_line_magic("config", "PromptLab.progress = False")
    capsys.readouterr()
    # When it runs, and runs again with the bar turned on
    ip.run_line_magic("prompt", "run capital --on countries")
    without_bar = capsys.readouterr().err
    ip.run_line_magic("config", "PromptLab.progress = True")
    ip.run_line_magic("prompt", "run capital --on countries")
    with_bar = capsys.readouterr().err
    # Then only the second shows a bar
    assert "calls (" not in without_bar
    assert "0 calls (2 cached)" in with_bar
