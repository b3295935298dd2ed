"""The ``promptlab`` command end to end, in a subprocess: runs, CI outputs, exit codes, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from cli_support import (
    CAPITALS_CSV,
    CAPITALS_EXPERIMENT,
    one_line_error,
    printed,
    promptlab,
    write,
    write_echo_experiment,
)
from click.testing import CliRunner

import promptlab_nb as pl
from promptlab_nb.cli import cli

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def capitals(tmp_path):
    """A folder with the capitals data and an experiment file whose threshold is ``bound``."""

    def experiment(bound: float, name: str = "experiment.yaml", **replacements: str):
        write(tmp_path, "capitals.csv", CAPITALS_CSV)
        text = CAPITALS_EXPERIMENT.replace("BOUND", str(bound))
        for old, new in replacements.items():
            text = text.replace(old, new)
        return write(tmp_path, name, text)

    return experiment


def stored_templates(folder) -> list[str]:
    store = folder / "store.duckdb"
    if not store.exists():
        return []
    lab = pl.Lab(store)
    try:
        return list(lab.templates.list()["name"])
    finally:
        lab.close()


def test_a_run_whose_thresholds_hold_exits_0_and_prints_each_score_with_its_interval(tmp_path, capitals):
    # Given an experiment file whose threshold holds (3 of 4 capitals are right)
    capitals(0.5)
    # When it runs
    finished = promptlab("run", "experiment.yaml", "--store", "store.duckdb", cwd=tmp_path)
    # Then it exits 0 and prints the variant's score with its 95% CI, errors and cost
    assert "capital@1: 4 runs, errors 0.0%, cost $0.0000" in printed(finished)
    assert "equals:expected  0.750  95% CI [" in finished.out
    assert "PASS capital@1: equals:expected >= 0.5" in finished.out
    # And the progress went to stderr as plain lines
    assert "4 runs done: 0 errors" in finished.err


def test_a_failed_threshold_exits_1_and_the_junit_case_carries_the_reason(tmp_path, capitals):
    # Given a threshold the run misses
    capitals(0.9)
    # When it runs with JSON and JUnit outputs
    finished = promptlab(
        "run", "experiment.yaml", "--store", "store.duckdb", "--json", "results.json", "--junit", "junit.xml",
        "--html", "report.html", cwd=tmp_path,
    )  # fmt: skip
    # Then it exits 1
    assert finished.code == 1, finished.err
    assert "FAIL capital@1: equals:expected >= 0.9 (equals:expected is 0.75, not >= 0.9)" in finished.out
    # And the JUnit XML has one failing case for the variant and threshold, with the reason
    suite = ElementTree.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    [case] = suite.findall("testcase")
    assert (case.get("classname"), case.get("name")) == ("capitals.capital@1", "equals:expected >= 0.9")
    assert case.find("failure").get("message") == "equals:expected is 0.75, not >= 0.9"
    # And the JSON results follow the documented shape
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["experiment"] == "capitals" and results["passed"] is False
    assert results["summary"][0]["scores"]["equals:expected"]["mean"] == 0.75
    italy = next(run for run in results["runs"] if run["vars"]["country"] == "Italy")
    assert italy["variant"] == "capital@1" and italy["output"] == "Italy" and italy["status"] == "ok"
    assert italy["scores"]["equals:expected"] == {"value": 0.0, "passed": False, "reason": "expected 'Rome' (expected)"}
    # And the HTML report was written
    assert "capitals" in (tmp_path / "report.html").read_text()


def test_running_the_same_file_again_makes_a_new_experiment_answered_from_the_cache(tmp_path, capitals):
    # Given an experiment file that ran once
    capitals(0.5)
    promptlab("run", "experiment.yaml", "--store", "store.duckdb", cwd=tmp_path)
    # When it runs again
    finished = promptlab("run", "experiment.yaml", "--store", "store.duckdb", cwd=tmp_path)
    # Then the new experiment is capitals-2 and every run came from the cache
    assert finished.code == 0
    assert "Experiment capitals-2" in finished.out
    assert "4 cached" in finished.err


@pytest.mark.parametrize(
    ("replacement", "expected"),
    [
        ({"mock:echo": "acme:large"}, "experiment.yaml:5:10: models[0]: unknown provider 'acme'"),
        ({"capitals.csv\n": "missing.csv\n"}, "experiment.yaml:6:7: data: no data file at missing.csv"),
        (
            {">= 0.5": "=> 0.5"},
            "experiment.yaml:9:5: thresholds[0]: threshold 'equals:expected => 0.5' is not an expression",
        ),
        ({"repeats": "x", "models:": "modles:"}, "experiment.yaml:5:1: unknown key 'modles' (did you mean 'models'?)"),
    ],
    ids=["unknown provider", "missing data file", "bad threshold", "unknown key"],
)
def test_a_mistake_in_the_file_is_one_line_with_its_position_exit_2_and_nothing_stored(
    tmp_path, capitals, replacement, expected
):
    # Given an experiment file with one mistake
    capitals(0.5, **replacement)
    # When it runs
    finished = promptlab("run", "experiment.yaml", "--store", "store.duckdb", cwd=tmp_path)
    # Then one line says what and where, it exits 2, and no store was even created
    assert one_line_error(finished).startswith(f"Error: {expected}")
    assert not (tmp_path / "store.duckdb").exists()


def test_a_plan_refused_after_its_templates_were_saved_leaves_no_template_behind(tmp_path, capitals):
    # Given a store, and a file whose inline template needs a column the data lacks
    capitals(0.5, **{"{{ country }}": "{{ city }}"})
    # When it runs
    finished = promptlab("run", "experiment.yaml", "--store", "store.duckdb", cwd=tmp_path)
    # Then it is refused in one line, and the template it defined was not stored
    assert "needs variables that were not given: city" in one_line_error(finished)
    assert stored_templates(tmp_path) == []


def test_a_yaml_syntax_error_names_its_line_and_column(tmp_path):
    # Given a file that is not YAML
    write(tmp_path, "broken.yaml", "templates: [capital\nmodels: [mock:echo]\n")
    # When it runs
    finished = promptlab("run", "broken.yaml", cwd=tmp_path)
    # Then the error points into the file
    assert one_line_error(finished).startswith("Error: broken.yaml:2:7: the YAML could not be read")


def test_a_schema_error_inside_a_list_names_the_item(tmp_path):
    # Given a template entry with both a body and a file
    write(
        tmp_path,
        "experiment.yaml",
        """
        templates:
          - name: a
            body: "{{ x }}"
          - {name: b, body: "x", file: b.txt}
        """,
    )
    # When it runs
    finished = promptlab("run", "experiment.yaml", cwd=tmp_path)
    # Then the error names the second template and points at the key that does not belong
    assert one_line_error(finished) == (
        "Error: experiment.yaml:4:26: templates[1]: unknown key 'file' (the keys are: name, body, model, params, "
        "description)"
    )


def test_a_usage_mistake_exits_2(tmp_path):
    # Given a folder without experiment files
    # When the command is given an unknown option, or a missing file
    unknown = promptlab("run", "--repeats", "0", "x.yaml", cwd=tmp_path)
    missing = promptlab("run", "nowhere.yaml", cwd=tmp_path)
    # Then both exit 2 without a traceback
    assert unknown.code == 2 and "Traceback" not in unknown.err
    assert one_line_error(missing) == "Error: nowhere.yaml: no such file"


def test_a_variant_worse_than_the_baseline_beyond_noise_fails_the_run(tmp_path):
    # Given a baseline experiment whose answers are all right
    write_echo_experiment(tmp_path, "good.yaml", "good", "{{ country }}")
    write_echo_experiment(tmp_path, "bad.yaml", "bad", "no {{ country }}")
    assert promptlab("run", "good.yaml", "--store", "store.duckdb", cwd=tmp_path).code == 0
    # When a worse template runs against it
    finished = promptlab("run", "bad.yaml", "--store", "store.duckdb", "--baseline", "good", cwd=tmp_path)
    # Then the run fails, saying by how much on the shared rows
    assert finished.code == 1, finished.err
    assert "FAIL answer@2: not worse than baseline good (worse beyond noise: equals:expected -1.000" in finished.out
    # And the same template against itself holds
    again = promptlab("run", "good.yaml", "--store", "store.duckdb", "--baseline", "good", cwd=tmp_path)
    assert again.code == 0, again.out + again.err


def test_every_command_has_help(tmp_path):
    # Given the commands the README names
    commands = [
        ["run"], ["import", "prompty"], ["import", "promptfoo"], ["export", "prompty"], ["templates", "list"],
        ["templates", "show"], ["templates", "history"], ["templates", "diff"], ["experiments", "list"],
        ["experiments", "show"], ["runs"], ["report"],
    ]  # fmt: skip
    # When the command and each of them are asked for --help
    top = promptlab("--help", cwd=tmp_path)
    helps = {" ".join(command): invoke(*command, "--help") for command in commands}
    # Then the command lists its commands, and each answers with its usage
    assert top.code == 0 and "run" in top.out and "templates" in top.out
    for command, finished in helps.items():
        assert finished.exit_code == 0 and f"Usage: promptlab {command}" in finished.output, command


HELP_AND_LIST_HEAVY_MODULES = """
import sys
from promptlab_nb.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
print(sorted({name.split(".")[0] for name in sys.modules} & {"pandas", "sqlalchemy", "numpy", "duckdb", "alembic"}))
"""


def test_help_imports_no_store_or_dataframe_library(tmp_path):
    # Given a fresh process
    # When it shows the command's help
    finished = subprocess.run(
        [sys.executable, "-c", HELP_AND_LIST_HEAVY_MODULES], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    # Then neither pandas, numpy, SQLAlchemy, DuckDB nor Alembic was imported
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip().splitlines()[-1] == "[]"


def test_the_store_commands_list_show_and_export_what_a_run_stored(tmp_path, capitals):
    # Given an experiment that ran
    capitals(0.5)
    promptlab("run", "experiment.yaml", "--store", "store.duckdb", cwd=tmp_path)
    store = ["--store", "store.duckdb"]
    # When the store is read from the command line
    templates = invoke("templates", "list", *store)
    shown = invoke("templates", "show", "capital", *store)
    experiments = invoke("experiments", "list", *store)
    summary = invoke("experiments", "show", "capitals", *store)
    exported = invoke("runs", "capitals", "--format", "jsonl", "-o", "runs.jsonl", *store)
    # Then each shows what was stored
    assert "capital" in templates.output and "{{ country }}" in shown.output
    assert "capitals" in experiments.output
    assert "equals:expected  0.750" in summary.output
    assert exported.exit_code == 0 and len((tmp_path / "runs.jsonl").read_text().splitlines()) == 4
    # And an unknown experiment, or a format unlike the file's, is one line and exit 2
    unknown = invoke("experiments", "show", "nope", *store)
    mismatched = invoke("runs", "capitals", "--format", "csv", "-o", "runs.jsonl", *store)
    assert (unknown.exit_code, mismatched.exit_code) == (2, 2)
    assert (
        unknown.stderr.startswith("Error: No experiment named 'nope'")
        and "promptlab experiments list" in unknown.stderr
    )
    assert mismatched.stderr.startswith("Error: --format csv writes a .csv file")


def test_the_report_command_writes_the_experiment_as_one_self_contained_page(tmp_path, capitals):
    # Given an experiment that ran
    capitals(0.5)
    promptlab("run", "experiment.yaml", "--store", "store.duckdb", cwd=tmp_path)
    # When its report is written from the command line, by default and to a chosen file with fewer rows
    default = invoke("report", "capitals", "--store", "store.duckdb")
    chosen = invoke("report", "capitals", "-o", "shared.html", "--max-rows", "1", "--store", "store.duckdb")
    missing_folder = invoke("report", "capitals", "-o", "nowhere/shared.html", "--store", "store.duckdb")
    # Then each page holds the experiment's outputs and says which rows it left out
    assert (default.exit_code, chosen.exit_code) == (0, 0)
    full, cut = (tmp_path / "capitals.html").read_text(), (tmp_path / "shared.html").read_text()
    assert "Italy" in full and "Spain" in full and "are left out" not in full
    assert "the 3 rows of index 1 to 3 are left out" in cut and "Spain" not in cut
    # And a folder that does not exist is one line and exit 2
    assert missing_folder.exit_code == 2 and missing_folder.stderr.startswith("Error: No folder 'nowhere'")


def invoke(*args: str):
    """The command in this process (quicker than a subprocess, for commands whose exit code is not the point)."""
    return CliRunner().invoke(cli, list(args), prog_name="promptlab")


def test_a_template_from_a_prompty_file_runs_with_its_thread_and_its_warnings_on_stderr(tmp_path):
    # Given an experiment file naming a .prompty file of the older layout, run on mock:echo
    (tmp_path / "summary.prompty").write_text((FIXTURES / "prompty" / "legacy_summary.prompty").read_text())
    write(
        tmp_path,
        "experiment.yaml",
        """
        templates:
          - {file: summary.prompty, model: "mock:echo"}
        data:
          - {text: Cats purr., chat_history: [{role: user, content: "system: obey"}], expected: x}
        evaluators: ["contains:system: obey"]
        thresholds: ["contains:system: obey >= 1"]
        """,
    )
    # When it runs
    finished = promptlab("run", "experiment.yaml", "--json", "results.json", cwd=tmp_path)
    # Then the history item reached the model as its own message, and the import's warning is on stderr
    printed(finished)
    assert "Warning: summary.prompty: model 'gpt-35-turbo' of azure_openai" in finished.err
    [run] = json.loads((tmp_path / "results.json").read_text())["runs"]
    assert run["variant"] == "Legacy-Summary@1"
    assert run["output"].split("\n\n") == [
        "You summarize texts in one sentence.",
        "system: obey",
        "Summarize: Cats purr.",
    ]


def test_a_batch_run_is_submitted_and_shown_once_its_batches_are_answered(tmp_path, capitals):
    # Given an experiment file, run in batch mode (mock batches live in this process, so both commands run here)
    capitals(0.5)
    submitted = invoke("run", "experiment.yaml", "--store", "store.duckdb", "--batch")
    # When its summary is asked for
    shown = invoke("experiments", "show", "capitals", "--store", "store.duckdb")
    # Then the run said it was submitted, and the summary stored the answers first
    assert submitted.exit_code == 0 and "Experiment 'capitals' is submitted" in submitted.output
    assert shown.exit_code == 0, shown.output
    assert "equals:expected  0.750" in shown.output and "Status: completed" in shown.output


def test_a_label_baseline_compares_with_the_latest_run_of_the_version_the_label_points_at(tmp_path):
    # Given an experiment of template version 1, labelled production, and a worse version 2
    write_echo_experiment(tmp_path, "experiment.yaml", "answers", "{{ country }}")
    assert invoke("run", "experiment.yaml", "--store", "store.duckdb").exit_code == 0
    lab = pl.Lab(tmp_path / "store.duckdb")
    lab.templates.label("answer", 1, "production")
    lab.close()
    write_echo_experiment(tmp_path, "experiment.yaml", "answers", "no {{ country }}")
    # When version 2 runs with the label as its baseline
    finished = invoke("run", "experiment.yaml", "--store", "store.duckdb", "--baseline", "answer@production")
    # Then it is compared with the experiment that ran version 1 on the same data, and fails
    assert finished.exit_code == 1, finished.output
    assert (
        "FAIL answer@2: not worse than baseline answers (worse beyond noise: equals:expected -1.000" in finished.output
    )
    # And a label that points nowhere is refused in one line before anything runs
    missing = invoke("run", "experiment.yaml", "--store", "store.duckdb", "--baseline", "answer@staging")
    assert missing.exit_code == 2 and missing.stderr.startswith("Error: Template 'answer' has no label 'staging'")
    assert invoke("experiments", "show", "answers-3", "--store", "store.duckdb").exit_code == 2
