"""Running experiments: variants x rows x repeats, stored runs, failures, retries, cache, interrupt, resume."""

from __future__ import annotations

import _thread
import itertools
import time

import pandas as pd
import pytest

import promptlab_nb as pl
from promptlab_nb.core import errors

COUNTRIES = pd.DataFrame({"country": ["France", "Japan", "Peru", "Kenya"]})
CAPITALS = {"france": "Paris", "japan": "Tokyo", "peru": "Lima", "kenya": "Nairobi", "*": "I do not know"}


def save_capital_templates(lab, model="mock:echo"):
    lab.templates.save("capital", "What is the capital of {{ country }}?", model=model)
    lab.templates.save("capital_terse", "Capital of {{ country }}? One word.", model=model)


def assert_every_cell_once(runs: pd.DataFrame, variants: int, rows: int, repeats: int) -> None:
    assert len(runs) == variants * rows * repeats
    assert not runs.duplicated(["variant", "row_index", "repeat"]).any()


def test_compare_stores_one_run_per_variant_row_and_repeat(lab):
    # Given two templates and four rows
    save_capital_templates(lab)
    # When they are compared over two models with two repeats
    pl.mock_model("geo", CAPITALS)
    experiment = lab.compare(
        ["capital", "capital_terse"], COUNTRIES, models=["mock:echo", "mock:geo"], repeats=2, progress=False
    )
    # Then 2 templates x 2 models x 4 rows x 2 repeats runs are stored, all ok, with their prompts
    runs = experiment.runs
    assert_every_cell_once(runs, variants=4, rows=4, repeats=2)
    assert set(runs["status"]) == {"ok"}
    assert set(runs["variant"]) == {
        "capital@1 | mock:echo",
        "capital@1 | mock:geo",
        "capital_terse@1 | mock:echo",
        "capital_terse@1 | mock:geo",
    }
    geo = runs[(runs["variant"] == "capital@1 | mock:geo") & (runs["country"] == "Peru")]
    assert set(geo["output"]) == {"Lima"}
    echo = runs[(runs["variant"] == "capital@1 | mock:echo") & (runs["country"] == "Japan")]
    assert set(echo["output"]) == {"What is the capital of Japan?"}
    assert runs["input_tokens"].notna().all() and (runs["cost"] == 0).all()
    assert experiment.status == "completed"


def test_params_sets_make_variants_and_reach_the_request(lab):
    seen = []
    pl.mock_model("recorder", lambda messages: seen.append(messages) or "ok")
    lab.templates.save("hello", "Hello {{ name }}", model="mock:recorder", params={"temperature": 0.1})
    experiment = lab.compare(
        ["hello"], [{"name": "Ada"}], params=[{"temperature": 0.0}, {"temperature": 1.0}], progress=False
    )
    runs = experiment.runs
    assert sorted(runs["variant"]) == ["hello@1 | temperature=0.0", "hello@1 | temperature=1.0"]
    assert sorted(params["temperature"] for params in runs["params"]) == [0.0, 1.0]


def test_data_as_list_dict_and_files(lab, tmp_path):
    lab.templates.save("hello", "Hello {{ name }}", model="mock:echo")
    pd.DataFrame({"name": ["Ada", "Grace"]}).to_csv(tmp_path / "people.csv", index=False)
    pd.DataFrame({"name": ["Alan"]}).to_json(tmp_path / "people.jsonl", orient="records", lines=True)
    pd.DataFrame({"name": ["Barbara", "Edsger", "Ken"]}).to_parquet(tmp_path / "people.parquet")
    cases = {
        "list": ([{"name": "Ada"}], 1),
        "dict": ({"name": "Ada"}, 1),
        "csv": (str(tmp_path / "people.csv"), 2),
        "jsonl": (tmp_path / "people.jsonl", 1),
        "parquet": (tmp_path / "people.parquet", 3),
    }
    for kind, (data, rows) in cases.items():
        runs = lab.run("hello", data, name=f"from-{kind}", progress=False).runs
        assert len(runs) == rows, kind
        assert runs["output"].str.startswith("Hello ").all(), kind


def test_missing_columns_are_named_before_anything_runs(lab):
    save_capital_templates(lab)
    with pytest.raises(errors.MissingVariables, match=r"country.*Columns in the data: nation"):
        lab.compare(["capital"], [{"nation": "France"}], progress=False)
    assert lab.experiments().empty


def test_unknown_target_and_bad_data_are_clear(lab):
    with pytest.raises(errors.TargetNotFound, match=r"'nope'"):
        lab.run("nope", [{"x": 1}], progress=False)
    lab.templates.save("hello", "Hello {{ name }}")
    with pytest.raises(errors.InvalidData, match=r"DataFrame, a list of dicts"):
        lab.run("hello", 42, progress=False)
    with pytest.raises(errors.InvalidData, match=r"no rows"):
        lab.run("hello", pd.DataFrame({"name": []}), progress=False)


def test_pinned_versions_run_the_version_asked_for(lab):
    lab.templates.save("hello", "Hello {{ name }}", model="mock:echo")
    lab.templates.save("hello", "Goodbye {{ name }}", model="mock:echo")
    runs = lab.compare(["hello@1", "hello"], [{"name": "Ada"}], progress=False).runs
    assert dict(zip(runs["variant"], runs["output"], strict=True)) == {"hello@1": "Hello Ada", "hello@2": "Goodbye Ada"}


def test_a_failing_run_is_recorded_and_the_experiment_goes_on(lab):
    # Given a model that rejects the second call
    pl.mock_model("flaky", "fine", errors=[])
    model = pl.mock_model("picky", lambda messages: "fine")
    model.errors.extend([errors.BadRequest("prompt rejected by policy", provider="mock")])
    lab.templates.save("hello", "Hello {{ name }}", model="mock:picky")
    # When it runs over three rows with one worker
    experiment = lab.run("hello", [{"name": n} for n in ("Ada", "Grace", "Alan")], concurrency=1, progress=False)
    # Then one run failed with the provider's message and the others succeeded
    runs = experiment.runs
    assert sorted(runs["status"]) == ["error", "ok", "ok"]
    failed = runs[runs["status"] == "error"].iloc[0]
    assert "prompt rejected by policy" in failed["error"] and pd.isna(failed["output"])


def test_rate_limits_are_retried_after_the_time_the_provider_asks(lab):
    model = pl.mock_model("limited", "done")
    model.errors.extend([errors.RateLimited("slow down", provider="mock", retry_after=0.3)])
    lab.templates.save("hello", "Hello {{ name }}", model="mock:limited")
    started = time.monotonic()
    runs = lab.run("hello", [{"name": "Ada"}], progress=False).runs
    assert runs["status"].tolist() == ["ok"] and runs["output"].tolist() == ["done"]
    assert time.monotonic() - started >= 0.3
    assert model.calls == 2


def test_a_call_that_keeps_failing_is_tried_once_and_then_max_retries_times(lab):
    # Given a model whose next five calls fail with a retryable error, and two retries allowed
    model = pl.mock_model("flaky", "done")
    model.errors.extend(errors.RateLimited(f"busy {index}", provider="mock", retry_after=0.01) for index in range(5))
    lab.templates.save("hello", "Hello {{ name }}", model="mock:flaky")
    lab.settings.max_retries = 2
    # When one run calls it
    runs = lab.run("hello", [{"name": "Ada"}], progress=False).runs
    # Then three attempts were made and the run failed with the last one's error
    assert model.calls == 3
    assert runs["status"].tolist() == ["error"]
    assert "busy 2" in runs["error"].iloc[0]


def test_a_call_slower_than_the_timeout_is_retried_then_recorded_as_timed_out(lab):
    pl.mock_model("slow", "late", latency=0.5)
    lab.templates.save("hello", "Hello {{ name }}", model="mock:slow")
    lab.settings.timeout = 0.05
    lab.settings.max_retries = 1
    runs = lab.run("hello", [{"name": "Ada"}], progress=False).runs
    assert runs["status"].tolist() == ["error"]
    assert "ProviderTimeout" in runs["error"].iloc[0]


def test_rerunning_an_unchanged_experiment_is_answered_from_the_cache(lab):
    # Given an experiment that ran once
    model = pl.mock_model("counted", CAPITALS)
    save_capital_templates(lab, "mock:counted")
    first = lab.compare(["capital", "capital_terse"], COUNTRIES, repeats=2, progress=False)
    calls_after_first = model.calls
    # When the same experiment runs again
    second = lab.compare(["capital", "capital_terse"], COUNTRIES, repeats=2, progress=False)
    # Then no provider call is made and every run is a cache hit with the same output
    assert model.calls == calls_after_first == 16
    assert second.runs["cache_hit"].all()
    assert second.runs["output"].tolist() == first.runs["output"].tolist()
    assert second.last_execution.provider_calls == 0


def test_cache_false_calls_the_provider_again(lab):
    model = pl.mock_model("uncached", "x")
    lab.templates.save("hello", "Hello {{ name }}", model="mock:uncached")
    lab.run("hello", [{"name": "Ada"}], progress=False)
    lab.run("hello", [{"name": "Ada"}], cache=False, progress=False)
    assert model.calls == 2


def test_errors_are_not_cached(lab):
    model = pl.mock_model("once-broken", "recovered")
    model.errors.extend([errors.BadRequest("broken", provider="mock")])
    lab.templates.save("hello", "Hello {{ name }}", model="mock:once-broken")
    assert lab.run("hello", [{"name": "Ada"}], progress=False).runs["status"].tolist() == ["error"]
    assert lab.run("hello", [{"name": "Ada"}], progress=False).runs["output"].tolist() == ["recovered"]


def interrupting_after(answers: int):
    """A mock answer that presses the kernel's interrupt once ``answers`` answers were given."""
    given = itertools.count(1)

    def answer(messages):
        if next(given) == answers:
            _thread.interrupt_main()
        return "answer"

    return answer


def test_interrupt_keeps_finished_runs_and_resume_runs_only_what_is_missing(lab):
    # Given a slow model and 40 runs at two at a time
    model = pl.mock_model("slowish", interrupting_after(10), latency=0.05)
    lab.templates.save("hello", "Hello {{ name }}", model="mock:slowish")
    people = [{"name": f"person {index}"} for index in range(40)]
    # When the kernel is interrupted part-way
    experiment = lab.run("hello", people, concurrency=2, name="interrupted", progress=False)
    # Then the experiment is marked interrupted, finished runs are stored, in-flight ones cancelled
    assert experiment.status == "interrupted"
    counts = experiment.status_counts()
    assert 0 < counts.get("ok", 0) < 40
    assert counts.get("cancelled", 0) <= 2
    calls_before_resume = model.calls
    finished_before = counts["ok"]
    # When it is resumed
    experiment.resume(progress=False)
    # Then every cell has exactly one successful run and only the missing ones were called
    runs = experiment.runs
    assert_every_cell_once(runs, variants=1, rows=40, repeats=1)
    assert set(runs["status"]) == {"ok"}
    assert model.calls - calls_before_resume == 40 - finished_before
    assert experiment.status == "completed"


def test_resume_retries_failed_runs(lab):
    model = pl.mock_model("fails-first", "fine")
    model.errors.extend([errors.BadRequest("nope", provider="mock")])
    lab.templates.save("hello", "Hello {{ name }}", model="mock:fails-first")
    experiment = lab.run("hello", [{"name": "Ada"}, {"name": "Grace"}], concurrency=1, progress=False)
    assert sorted(experiment.runs["status"]) == ["error", "ok"]
    experiment.resume(progress=False)
    assert experiment.runs["status"].tolist() == ["ok", "ok"]


async def test_async_api_works_inside_a_running_loop(lab):
    lab.templates.save("hello", "Hello {{ name }}", model="mock:echo")
    experiment = await lab.arun("hello", [{"name": "Ada"}], progress=False)
    assert experiment.runs["output"].tolist() == ["Hello Ada"]


def test_sync_api_works_while_an_event_loop_is_running_in_this_thread(lab):
    import asyncio

    lab.templates.save("hello", "Hello {{ name }}", model="mock:echo")

    async def notebook_cell():
        return lab.run("hello", [{"name": "Ada"}], progress=False)

    assert asyncio.run(notebook_cell()).runs["output"].tolist() == ["Hello Ada"]


def test_export_writes_csv_jsonl_and_parquet(lab, tmp_path):
    lab.templates.save("hello", "Hello {{ name }}", model="mock:echo")
    experiment = lab.run("hello", [{"name": "Ada"}, {"name": "Grace"}], progress=False)
    assert len(pd.read_csv(experiment.export(tmp_path / "runs.csv"))) == 2
    assert len(pd.read_json(experiment.export(tmp_path / "runs.jsonl"), lines=True)) == 2
    assert pd.read_parquet(experiment.export(tmp_path / "runs.parquet"))["output"].tolist() == [
        "Hello Ada",
        "Hello Grace",
    ]
    with pytest.raises(errors.InvalidData, match=r"\.csv, \.jsonl or \.parquet"):
        experiment.export(tmp_path / "runs.xlsx")


def test_a_requests_per_minute_limit_spaces_the_calls(lab):
    # Given a limit of 600 requests a minute for the mock provider (one every 0.1 s)
    pl.mock_model("paced", "ok")
    lab.templates.save("hello", "Hello {{ name }}", model="mock:paced")
    lab.settings.rate_limits = {"mock": {"rpm": 600}}
    # When six calls are made with plenty of concurrency
    started = time.monotonic()
    runs = lab.run("hello", [{"name": f"n{index}"} for index in range(6)], concurrency=6, progress=False).runs
    # Then they took at least five intervals
    assert set(runs["status"]) == {"ok"}
    assert time.monotonic() - started >= 0.5


def test_the_progress_bar_shows_done_errors_cache_hits_and_cost(lab, capsys):
    model = pl.mock_model("half-broken", "fine")
    model.errors.extend([errors.BadRequest("no", provider="mock")])
    lab.templates.save("hello", "Hello {{ name }}", model="mock:half-broken")
    lab.run("hello", [{"name": "Ada"}, {"name": "Grace"}], concurrency=1, name="shown")
    printed = capsys.readouterr().err
    assert "shown: 2 calls (0 cached), est. $0.0000" in printed
    assert "2/2" in printed and "errors=1" in printed and "cached=0" in printed and "cost=$0.0000" in printed
