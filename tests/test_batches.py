"""Batch mode: runs sent through the OpenAI and Anthropic batch APIs (real SDKs against the loopback
fakes) and the mock provider, stored as normal runs when the batches finish, across sessions."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from batch_support import BATCH_COST, MODELS, QUESTION, countries, on_the_fakes, provider_options
from fakes.batch_book import answer_to
from IPython.core.error import UsageError
from sqlalchemy import create_engine, text

import promptlab_nb as pl
from promptlab_nb.core import errors
from promptlab_nb.engine.batch_answers import CellId, split_lines
from promptlab_nb.engine.providers.batch_api import BatchLimits
from promptlab_nb.engine.providers.mock import mock_model
from promptlab_nb.engine.providers.openai_provider import OpenAIProvider
from promptlab_nb.engine.providers.pricing import Price, PriceTable
from promptlab_nb.store import migrate

pytest_plugins = ["fakes.fixtures"]

ALL_PROVIDERS = list(MODELS)


def open_lab(url: str, fake_server) -> pl.Lab:
    """A Lab pointed at the fakes, as a notebook would open one after a kernel restart."""
    lab = pl.Lab(url)
    lab.settings.providers = provider_options(fake_server)
    lab.settings.max_retries = 0
    return lab


@pytest.fixture
def batch_lab(lab, fake_server):
    return on_the_fakes(lab, fake_server)


def expected_output(row_index: int) -> str:
    return answer_to([{"content": f"What is the capital of country {row_index}?"}])


def submit(lab: pl.Lab, provider: str, rows: int, **options) -> pl.Experiment:
    return lab.run(f"capital_{provider}", countries(rows), mode="batch", progress=False, **options)


def assert_answered_by_their_own_request(runs: pd.DataFrame) -> None:
    ok = runs[runs["status"] == "ok"]
    assert ok["output"].tolist() == [expected_output(index) for index in ok["row_index"]]


def assert_each_cell_once(runs: pd.DataFrame) -> None:
    assert not runs.duplicated(["variant", "row_index", "repeat"]).any()


@pytest.mark.parametrize("provider", ALL_PROVIDERS)
def test_a_batch_experiment_is_submitted_then_stored_as_normal_runs_at_batch_prices(batch_lab, fake_server, provider):
    # Given batches that take two status reads to finish
    fake_server.batches.polls_to_finish = 2
    # When five runs are submitted in batch mode
    experiment = submit(batch_lab, provider, 5)
    # Then the experiment waits on one stored batch and has no runs yet
    assert (experiment.status, experiment.record.mode) == ("submitted", "batch")
    batches = experiment.batches
    assert batches[["provider", "status", "requests"]].values.tolist() == [[provider, "in_progress", 5]]
    assert experiment.runs.empty
    # When it is refreshed while the batch still runs, Then nothing is stored yet
    assert experiment.refresh(progress=False).runs.empty
    # When it is refreshed after the batch ended
    runs = experiment.refresh(progress=False).runs
    # Then every run is stored once, answered by its own request, at half the normal price
    assert experiment.status == "completed"
    assert len(runs) == 5 and set(runs["status"]) == {"ok"} and set(runs["mode"]) == {"batch"}
    assert_answered_by_their_own_request(runs)
    assert runs["cost"].tolist() == pytest.approx([BATCH_COST[provider]] * 5)
    assert runs["input_tokens"].tolist() == [12] * 5
    assert experiment.batches["collected"].notna().all()
    # And refreshing again stores nothing twice
    assert len(experiment.refresh(progress=False).runs) == 5


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_failed_and_malformed_results_are_recorded_per_run_and_retried_in_a_follow_up_batch(
    batch_lab, fake_server, provider
):
    # Given a batch where one request fails, one result line has the wrong shape and one is not JSON
    fake_server.batches.failing = {"v0-r1-n0"}
    fake_server.batches.malformed = {"v0-r2-n0"}
    fake_server.batches.unreadable = {"v0-r3-n0"}
    experiment = submit(batch_lab, provider, 5, name="partial")
    # When the finished batch is refreshed
    runs = experiment.refresh(progress=False).runs.set_index("row_index")
    # Then the good answers are stored and each failure carries its reason
    assert runs["status"].tolist() == ["ok", "error", "error", "error", "ok"]
    assert "BatchItemFailed" in runs.loc[1, "error"] and "invalid" in runs.loc[1, "error"]
    assert "malformed result line" in runs.loc[2, "error"]
    assert "without an answer to this request" in runs.loc[3, "error"]
    # When the failures are retried in a follow-up batch that succeeds
    fake_server.batches.failing = fake_server.batches.malformed = fake_server.batches.unreadable = set()
    experiment.resume(mode="batch", progress=False)
    assert fake_server.batches.submitted_lines == 5 + 3
    runs = experiment.refresh(progress=False).runs
    # Then every run is ok, stored once
    assert len(runs) == 5 and set(runs["status"]) == {"ok"}
    assert_each_cell_once(runs)
    assert_answered_by_their_own_request(runs)


@pytest.mark.parametrize("provider", ALL_PROVIDERS)
def test_an_expired_batch_keeps_its_answers_and_the_rest_run_live_on_resume(batch_lab, fake_server, provider):
    # Given a batch that expires after answering its first two requests
    fake_server.batches.expire = True
    fake_server.batches.answered_before_stop = 2
    experiment = submit(batch_lab, provider, 4, name="expiring")
    # When it is refreshed
    runs = experiment.refresh(progress=False).runs
    # Then the two answers are stored and the others say the batch expired
    assert runs["status"].tolist() == ["ok", "ok", "error", "error"]
    assert all("expired" in error for error in runs["error"].iloc[2:])
    assert experiment.batches["status"].tolist() == ["expired"]
    # When the experiment is resumed live
    runs = experiment.resume(progress=False).runs
    # Then the two missing runs are made with the chat API, the stored ones kept
    assert set(runs["status"]) == {"ok"} and len(runs) == 4
    assert runs["mode"].tolist() == ["batch", "batch", "live", "live"]
    assert runs["output"].iloc[0] == expected_output(0)


@pytest.mark.parametrize("provider", ALL_PROVIDERS)
def test_cancelling_stores_what_was_answered_and_marks_the_rest_cancelled(batch_lab, fake_server, provider):
    # Given a running batch that had answered one request when it was cancelled
    fake_server.batches.polls_to_finish = 100
    fake_server.batches.answered_before_stop = 1
    experiment = submit(batch_lab, provider, 3, name="cancelled")
    # When the user cancels it
    experiment.cancel(progress=False)
    experiment.refresh(progress=False)
    # Then the experiment is cancelled, the answer is kept and the other runs say why they have none
    runs = experiment.runs
    assert experiment.status == "cancelled"
    assert runs["status"].tolist() == ["ok", "error", "error"]
    assert all("cancel" in error for error in runs["error"].iloc[1:])
    assert experiment.batches["status"].tolist() == ["cancelled"]


def test_a_new_lab_on_the_same_store_finds_the_pending_batches_and_scores_their_runs(store_url, fake_server):
    # Given an experiment submitted with an evaluator, and the kernel restarted
    first = open_lab(store_url, fake_server)
    first.templates.save("capital", QUESTION, model=MODELS["openai"])
    first.run(
        "capital", countries(3), mode="batch", name="overnight", evaluators=["contains:country 1"], progress=False
    )
    first.close()
    # When a new Lab on the same store lists the experiments and refreshes the pending one
    second = open_lab(store_url, fake_server)
    listing = second.experiments().set_index("name")
    pending = second.batches()
    experiment = second.experiment("overnight").refresh(progress=False)
    # Then the listing showed it submitted, and its runs are stored and scored by the stored evaluator
    assert listing.loc["overnight", "status"] == "submitted"
    assert pending["status"].tolist() == ["in_progress"]
    assert experiment.status == "completed"
    assert experiment.runs["contains:country 1"].tolist() == [0.0, 1.0, 0.0]
    second.close()


def test_a_batch_collected_again_by_a_second_notebook_stores_nothing_twice(batch_lab, fake_server):
    # Given a batch whose runs are stored
    experiment = submit(batch_lab, "anthropic", 4, name="twice")
    experiment.refresh(progress=False)
    # When another notebook, refreshing at the same moment, collects the same batch again
    with batch_lab.db.connection() as connection:
        connection.execute(text("update provider_batch set collected_at = null"))
    runs = batch_lab.experiment("twice").refresh(progress=False).runs
    # Then each run is still stored once and the batch is collected
    assert len(runs) == 4 and set(runs["status"]) == {"ok"}
    assert_each_cell_once(runs)
    assert experiment.batches["collected"].notna().all()


def test_cached_runs_are_stored_at_once_and_never_sent_in_a_batch(batch_lab, fake_server):
    # Given three rows already answered live
    batch_lab.run("capital_openai", countries(3), progress=False)
    # When five rows (the three and two new) run in batch mode
    experiment = submit(batch_lab, "openai", 5, name="mostly-cached")
    # Then the three cached runs are stored at once and only two requests were batched
    runs = experiment.runs
    assert runs["row_index"].tolist() == [0, 1, 2] and runs["cache_hit"].all()
    assert fake_server.batches.submitted_lines == 2
    assert len(experiment.refresh(progress=False).runs) == 5


def test_refreshing_stores_the_finished_batches_while_others_still_run(batch_lab, fake_server):
    # Given two models of one experiment, each in its own batch, where Anthropic's takes longer
    fake_server.batches.polls_to_finish = 1
    experiment = batch_lab.compare(
        ["capital_openai", "capital_anthropic"], countries(2), mode="batch", name="two-models", progress=False
    )
    anthropic_batch = next(batch for batch in fake_server.batches.batches.values() if batch.id.startswith("msgbatch"))
    anthropic_batch.polls = -5
    # When it is refreshed
    runs = experiment.refresh(progress=False).runs
    # Then OpenAI's runs are usable at once and the experiment still waits for Anthropic's
    assert runs["variant"].str.startswith("capital_openai").all() and len(runs) == 2
    assert experiment.status == "submitted"
    assert sorted(experiment.batches["status"]) == ["ended", "in_progress"]


@pytest.mark.parametrize(
    ("provider", "reason"),
    [
        ("openai", "failed without an answer to this request: line 1: model not found"),
        ("gemini", "failed without an answer"),
    ],
)
def test_a_failed_batch_records_the_providers_reason_on_every_run(batch_lab, fake_server, provider, reason):
    # Given a batch the provider fails as a whole (the Gemini SDK drops the reason of a failed job)
    fake_server.batches.invalid = True
    runs = submit(batch_lab, provider, 2, name="invalid").refresh(progress=False).runs
    assert runs["status"].tolist() == ["error", "error"]
    assert all(reason in error for error in runs["error"])


def test_pipelines_and_providers_without_a_batch_api_are_refused_before_anything_is_sent(batch_lab, fake_server):
    batch_lab.pipelines.save("twice", steps=[{"template": "capital_openai", "output": "answer"}])
    with pytest.raises(errors.BatchModeUnsupported, match="later steps need its earlier outputs"):
        batch_lab.run("twice", countries(2), mode="batch", progress=False)
    batch_lab.templates.save("capital_ollama", QUESTION, model="ollama:llama3.2")
    with pytest.raises(errors.BatchNotSupported, match="ollama has no batch API"):
        batch_lab.run("capital_ollama", countries(2), mode="batch", progress=False)
    with pytest.raises(errors.InvalidData, match='mode is "live" or "batch"'):
        batch_lab.run("capital_openai", countries(2), mode="overnight", progress=False)
    assert fake_server.batches.submitted_lines == 0


def test_a_mock_batch_answers_after_its_delay(lab):
    # Given a mock model whose batches take 1.5 s
    mock_model("slow_batch", respond=lambda messages: messages[-1]["content"].upper(), batch_delay=1.5)
    lab.templates.save("shout", "say {{ word }}", model="mock:slow_batch")
    experiment = lab.run("shout", [{"word": "hi"}, {"word": "yo"}], mode="batch", progress=False)
    # When it is refreshed at once, Then nothing is there yet
    assert experiment.refresh(progress=False).runs.empty and experiment.status == "submitted"
    # When it is refreshed after the delay, Then the answers are stored
    time.sleep(1.5)
    assert experiment.refresh(progress=False).runs["output"].tolist() == ["SAY HI", "SAY YO"]


def test_a_failed_gemini_request_keeps_its_reason(batch_lab, fake_server):
    fake_server.batches.failing = {"v0-r1-n0"}
    runs = submit(batch_lab, "gemini", 3).refresh(progress=False).runs
    assert runs["status"].tolist() == ["ok", "error", "ok"]
    assert "contents must not be empty" in runs["error"].iloc[1]
    assert_answered_by_their_own_request(runs)


def test_requests_are_split_into_batches_within_the_providers_limits():
    lines = [{"custom_id": CellId(0, row, 0).custom_id, "body": "x" * 100} for row in range(10)]
    by_count = list(split_lines(lines, BatchLimits(max_requests=4, max_bytes=10**9)))
    by_size = list(split_lines(lines, BatchLimits(max_requests=100, max_bytes=450)))
    assert [len(group) for group in by_count] == [4, 4, 2]
    assert [len(group) for group in by_size] == [3, 3, 3, 1]
    assert [line for group in by_size for line in group] == lines


def test_custom_ids_map_back_to_their_cells():
    cell = CellId(variant=3, row=12_345, repeat=2)
    assert cell.custom_id == "v3-r12345-n2"
    assert CellId.parse(cell.custom_id) == cell
    assert CellId.parse("not-a-cell") is None


def test_batch_prices_are_half_unless_the_price_table_says_otherwise():
    table = PriceTable("openai", {"special": {"input": 1.0, "output": 4.0, "batch_input": 0.8, "batch_output": 3.0}})
    assert table.price("gpt-4o-mini").for_batch() == Price(0.075, 0.30)
    assert table.price("special").for_batch() == Price(0.8, 3.0)


def test_a_store_at_0002_upgrades_in_place_to_hold_batches(store_url):
    engine = create_engine(store_url)
    migrate.upgrade(engine, "old store", revision="0002")
    engine.dispose()
    lab = pl.Lab(store_url)
    with lab.db.connection() as connection:
        assert connection.execute(text("select count(*) from provider_batch")).scalar_one() == 0
    lab.close()


def test_a_thousand_runs_go_through_batches_across_a_kernel_restart(duckdb_url, fake_server, monkeypatch):
    # Given OpenAI batches limited to 200 requests, batches that take two status reads, and a cached row
    monkeypatch.setattr(OpenAIProvider, "batch_limits", BatchLimits(max_requests=200, max_bytes=200 * 1024 * 1024))
    fake_server.batches.polls_to_finish = 2
    first = open_lab(duckdb_url, fake_server)
    for provider, model in MODELS.items():
        first.templates.save(f"capital_{provider}", QUESTION, model=model)
    first.run("capital_openai", countries(1), name="warm-up", progress=False)
    # When 250 rows x 2 models x 2 repeats are submitted in batch mode and refreshed once too early
    experiment = first.compare(
        ["capital_openai", "capital_anthropic"],
        countries(250),
        repeats=2,
        mode="batch",
        name="thousand",
        progress=False,
    )
    experiment.refresh(progress=False)
    first.close()
    # And the kernel restarts: a new Lab on the same store file refreshes it, twice
    second = open_lab(duckdb_url, fake_server)
    assert second.experiments().set_index("name").loc["thousand", "status"] == "submitted"
    second.experiment("thousand").refresh(progress=False)
    runs = second.experiment("thousand").refresh(progress=False).runs
    # Then every one of the 1,000 runs is stored exactly once, ok, at batch prices
    assert len(runs) == 1_000 and set(runs["status"]) == {"ok"}
    assert_each_cell_once(runs)
    assert_answered_by_their_own_request(runs[~runs["cache_hit"]])
    assert runs["cache_hit"].sum() == 1
    assert fake_server.batches.submitted_lines == 999
    assert len(second.batches()) == 4
    expected_cost = 499 * BATCH_COST["openai"] + 500 * BATCH_COST["anthropic"]
    assert runs["cost"].sum() == pytest.approx(expected_cost)
    assert second.experiment("thousand").status == "completed"
    second.close()


@pytest.fixture
def ip(notebook_shell):
    notebook_shell.user_ns["words"] = pd.DataFrame({"word": ["hi", "yo"]})
    return notebook_shell


def test_the_magics_submit_with_batch_and_list_and_refresh_with_prompt_batches(ip):
    # Given a mock model whose batches take a moment
    mock_model("batchy", respond=lambda messages: messages[-1]["content"].upper(), batch_delay=3.0)
    # When a %%prompt cell runs over a DataFrame with --batch
    submitted = ip.run_cell_magic(
        "prompt", "shout --model mock:batchy --on words --batch --name shouting", "say {{ word }}"
    )
    # Then the experiment is submitted and %prompt batches lists its batch, still running
    assert submitted.status == "submitted"
    assert ip.run_line_magic("prompt", "batches")["status"].tolist() == ["in_progress"]
    # When %prompt batches runs after the delay, Then it stored the runs
    time.sleep(3.0)
    assert ip.run_line_magic("prompt", "batches")["status"].tolist() == ["ended"]
    assert ip.run_line_magic("prompt", "runs --experiment shouting")["output"].tolist() == ["SAY HI", "SAY YO"]
    # And a pipeline is refused in one line
    ip.run_cell_magic("pipeline", "twice", "- template: shout\n  output: loud\n")
    with pytest.raises(UsageError, match="later steps need its earlier outputs"):
        ip.run_line_magic("prompt", "run twice --on words --batch")
    # And %prompt run takes --batch too
    rerun = ip.run_line_magic("prompt", "run shout --on words --batch --name again")
    assert (rerun.status, rerun.runs["cache_hit"].tolist()) == ("completed", [True, True])
