"""Hostile or odd input: refused starts leave nothing behind, names that would hide run columns,
folders given as data files, spreadsheet formulas in exports, and a bad experiment in the REST list."""

from __future__ import annotations

import csv

import pandas as pd
import pytest
from magic_support import printed_one_line_error

# pytest-jupyter's fixtures for this module only (see test_server_api.py), and the REST fixtures from there.
from pytest_jupyter.jupyter_server import *  # noqa: F403
from sqlalchemy import text
from test_server_api import api, fetch, jp_server_config, server_lab  # noqa: F401

import promptlab_nb as pl
from promptlab_nb.core import errors

pytest_plugins = ["fakes.fixtures"]

CAPITAL = "What is the capital of {{ country }}?"
COUNTRIES = [{"country": "France", "expected": "Paris"}, {"country": "Japan", "expected": "Tokyo"}]


@pytest.fixture
def priced_lab(lab, fake_server):
    """A lab whose openai provider is the loopback fake, with a cost limit far below any real call."""
    lab.settings.providers = {"openai": {"api_key": "sk-test", "base_url": fake_server.openai_base_url}}
    lab.templates.save("capital", CAPITAL, model="mock:echo")
    return lab


REFUSED_STARTS = {
    "unknown provider": ({"models": ["nowhere:model"]}, errors.UnknownProvider, "Unknown provider 'nowhere'"),
    "missing key": ({"models": ["anthropic:claude-haiku-4-5"]}, errors.MissingCredentials, "ANTHROPIC_API_KEY"),
    "negative concurrency": ({"concurrency": -1}, errors.InvalidData, "concurrency must be a whole number"),
    "no repeats": ({"repeats": 0}, errors.InvalidData, "repeats must be a whole number"),
    "cost limit": ({"models": ["openai:gpt-4o"]}, errors.CostLimitExceeded, "above the cost limit"),
}


@pytest.mark.parametrize("case", REFUSED_STARTS, ids=list(REFUSED_STARTS))
def test_a_refused_start_stores_no_experiment_and_leaves_the_name_free(priced_lab, fake_server, case):
    # Given a start that is refused (and a cost limit below what gpt-4o would cost)
    options, error, message = REFUSED_STARTS[case]
    priced_lab.settings.cost_limit = 1e-9
    # When the user starts it
    with pytest.raises(error, match=message):
        priced_lab.compare("capital", COUNTRIES, name="capitals", progress=False, **options)
    # Then no experiment was stored and no provider was called
    assert priced_lab.experiments().empty
    assert fake_server.script.received == []
    # And the name is still free for the corrected start
    priced_lab.settings.cost_limit = 5.0
    runs = priced_lab.compare("capital", COUNTRIES, name="capitals", progress=False).runs
    assert priced_lab.experiments()["name"].tolist() == ["capitals"]
    assert runs["status"].tolist() == ["ok", "ok"]


@pytest.mark.parametrize("model", ["nowhere:model", "anthropic:claude-haiku-4-5"])
def test_a_batch_start_without_a_usable_provider_stores_no_experiment(priced_lab, model):
    # When a batch start names an unknown provider or one without a key, Then nothing is stored
    with pytest.raises((errors.UnknownProvider, errors.MissingCredentials)):
        priced_lab.compare("capital", COUNTRIES, models=[model], mode="batch", name="capitals", progress=False)
    assert priced_lab.experiments().empty


REFUSED_CELLS = {
    "unknown provider": ("--model nowhere:model", "Unknown provider 'nowhere'"),
    "missing key": ("--model anthropic:claude-haiku-4-5", "No API key for anthropic; set ANTHROPIC_API_KEY"),
    "negative concurrency": ("--concurrency -1", "concurrency must be a whole number of at least 1, not -1."),
    "no repeats": ("--repeats 0", "repeats must be a whole number of at least 1, not 0."),
    "cost limit": ("--model openai:gpt-4o", "above the cost limit of $0.00"),
}


@pytest.mark.parametrize("case", REFUSED_CELLS, ids=list(REFUSED_CELLS))
def test_a_refused_start_in_the_notebook_is_one_line_and_stores_nothing(notebook_shell, fake_server, capsys, case):
    # Given a template, data, an openai provider on the loopback fake and a tiny cost limit
    ip = notebook_shell
    ip.run_cell_magic("prompt", "capital", CAPITAL)
    ip.user_ns["countries"] = pd.DataFrame(COUNTRIES)
    ip.user_ns["fake_openai"] = fake_server.openai_base_url
    ip.run_line_magic("config", 'PromptLab.providers = {"openai": {"api_key": "sk-test", "base_url": fake_openai}}')
    ip.run_line_magic("config", "PromptLab.cost_limit = 1e-9")
    option, expected = REFUSED_CELLS[case]
    # When the user runs it from a cell
    printed = printed_one_line_error(ip, f"%prompt run capital --on countries --name capitals {option}", capsys)
    # Then one line says what to do, and nothing is stored
    assert expected in printed
    assert pl.lab().experiments().empty
    assert fake_server.script.received == []


@pytest.mark.parametrize("name", ["cost", "status", "output", "variant", "error_rate", "rating"])
def test_an_evaluator_named_like_a_run_column_is_refused_before_anything_is_stored(lab, name):
    # Given a template
    lab.templates.save("capital", CAPITAL, model="mock:echo")
    # When the user passes an evaluator named like a column of the runs or the summary
    with pytest.raises(errors.InvalidEvaluator, match=f"cannot be named '{name}'.*name='{name}_score'"):
        lab.compare("capital", COUNTRIES, evaluators=[pl.evals.custom(lambda output, row: 1.0, name=name)])
    # Then nothing is stored
    assert lab.experiments().empty


def test_data_columns_named_like_run_columns_or_scores_are_prefixed_and_everything_renders(lab):
    # Given data whose columns are named like run columns, like a prefixed one, and like an evaluator
    lab.templates.save("capital", CAPITAL, model="mock:echo")
    rows = [
        {"country": country, "cost": 1.5, "input_cost": 2, "status": "draft", "output": "x", "inputs": 3, "score": 7}
        for country in ("France", "Japan", "Peru")
    ]
    score = pl.evals.custom(lambda output, row: 1.0, name="score")
    # When they are run and looked at
    experiment = lab.compare("capital", rows, evaluators=[score, "contains:capital"], progress=False)
    runs = experiment.runs
    # Then every column is there once: the run's own, the data's prefixed with input_ (again when the
    # prefixed name is a data column too), the scores
    assert runs.columns.is_unique
    assert runs["cost"].tolist() == [0.0, 0.0, 0.0]
    prefixed = ["input_input_cost", "input_cost", "input_status", "input_output", "input_inputs"]
    assert runs[prefixed].iloc[0].tolist() == [1.5, 2, "draft", "x", 3]
    assert (runs["input_score"].tolist(), runs["score"].tolist()) == ([7, 7, 7], [1.0, 1.0, 1.0])
    assert runs.attrs["evaluators"] == ["score", "contains:capital"]
    # And the summary, clustered by a prefixed column, the table and the static view all work
    summary = experiment.summary(cluster="input_status")
    assert summary.loc["capital@1", ["runs", "score", "contains:capital"]].tolist() == [3, 1.0, 1.0]
    assert experiment.table()["input_status"].tolist() == ["draft"] * 3
    assert "France" in experiment._repr_html_()
    for column, shown in (("status", "input_status"), ("score", "input_score")):
        with pytest.raises(errors.InvalidData, match=f"not the run or score column '{column}'.*'{shown}' in exp.runs"):
            experiment.summary(cluster=column)


def stored_with_evaluator_renamed(lab, name: str, evaluator: str):
    """An experiment as an older version could store it: a score named like a run column."""
    lab.templates.save("capital", CAPITAL, model="mock:echo")
    experiment = lab.compare("capital", COUNTRIES, evaluators=["contains:capital"], name=name, progress=False)
    with lab.db.session() as session:
        session.execute(
            text("update score set evaluator = :evaluator where experiment_id = :id"),
            {"evaluator": evaluator, "id": experiment.id},
        )
    return lab.experiment(name)


@pytest.mark.parametrize("evaluator", ["cost", "status", "variant", "runs"])
def test_a_stored_score_named_like_a_run_column_is_shown_prefixed(lab, evaluator):
    # Given an experiment stored with a score named like a run column
    experiment = stored_with_evaluator_renamed(lab, "old", evaluator)
    # When it is read back
    runs, summary = experiment.runs, experiment.summary()
    # Then the score is shown as score_<name> and the run's own column is intact
    assert runs.columns.is_unique and runs.attrs["evaluators"] == [f"score_{evaluator}"]
    assert runs[f"score_{evaluator}"].tolist() == [1.0, 1.0]
    assert runs["status"].tolist() == ["ok", "ok"] and runs["variant"].tolist() == ["capital@1"] * 2
    assert summary.loc["capital@1", ["runs", f"score_{evaluator}"]].tolist() == [2, 1.0]


def test_the_rest_list_still_lists_every_experiment_when_one_has_a_colliding_score(api, server_lab):  # noqa: F811
    # Given a good experiment and one stored with a score named like a run column
    server_lab.templates.save("capital", CAPITAL, model="mock:echo")
    server_lab.compare("capital", COUNTRIES, evaluators=["contains:capital"], name="good", progress=False)
    stored_with_evaluator_renamed(server_lab, "odd", "status")
    # When the sidebar lists experiments
    status, body = api("GET", "experiments")
    # Then both are listed
    assert status == 200
    assert sorted(listed["name"] for listed in body["experiments"]) == ["good", "odd"]
    detail_status, detail = api("GET", "experiments", "odd")
    assert detail_status == 200 and detail["summary"][0]["score_status"] == 1.0


def test_a_folder_given_as_a_data_file_is_one_clear_error(lab, tmp_path):
    # Given a folder whose name looks like a CSV file
    lab.templates.save("capital", CAPITAL, model="mock:echo")
    (tmp_path / "countries.csv").mkdir()
    # When it is given as data, Then the error says it is a folder, and nothing is stored
    with pytest.raises(errors.InvalidData, match=r"countries.csv is a folder; give the path of a \.csv"):
        lab.compare("capital", tmp_path / "countries.csv")
    assert lab.experiments().empty


def test_a_folder_given_to_the_magic_is_one_line(notebook_shell, capsys, tmp_path):
    notebook_shell.run_cell_magic("prompt", "capital", CAPITAL)
    (tmp_path / "countries.csv").mkdir()
    printed = printed_one_line_error(notebook_shell, f"%prompt run capital --on {tmp_path / 'countries.csv'}", capsys)
    assert "is a folder" in printed


def test_csv_export_neutralises_formulas_and_keeps_numbers(lab, tmp_path):
    # Given outputs and data that a spreadsheet would run as formulas
    pl.mock_model("formulas", {"one": '=HYPERLINK("http://evil")', "two": "+1+1", "*": "-2"})
    lab.templates.save("echo_back", "{{ country }}", model="mock:formulas")
    rows = [{"country": "one", "=cmd": "@SUM(A1)", "n": -3}, {"country": "two", "=cmd": "plain", "n": 4}]
    rows.append({"country": "three", "=cmd": "\tcalc", "n": -5.5})
    experiment = lab.compare("echo_back", rows, progress=False)
    # When the runs are exported to CSV
    with experiment.export(tmp_path / "runs.csv").open(newline="") as exported:
        written = list(csv.DictReader(exported))
    # Then text cells (and headers) starting with = + - @ or a tab start with ' , numbers stay numbers
    assert [row["output"] for row in written] == ['\'=HYPERLINK("http://evil")', "'+1+1", "'-2"]
    assert [row["'=cmd"] for row in written] == ["'@SUM(A1)", "plain", "'\tcalc"]
    assert [row["n"] for row in written] == ["-3.0", "4.0", "-5.5"]
    assert [row["row_index"] for row in written] == ["0", "1", "2"]
