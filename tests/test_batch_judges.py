"""Judges in batch mode: the pairwise judge (both orders) and the single-output judge send their
requests as provider batches at batch prices (real SDKs against the OpenAI and Anthropic fakes),
and a refresh stores their verdicts and scores once, caching the answers for the live path."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from batch_support import BATCH_COST, MODELS, provider_options
from pairwise_support import LONG_VARIANT, SHORT_VARIANT, compare_capitals, longer_wins, outputs_of, prefers_longer
from sqlalchemy import text
from store_support import LEGACY_BATCH, store_at_revision

import promptlab_nb as pl
from promptlab_nb.core import errors
from promptlab_nb.core.ids import utcnow
from promptlab_nb.engine.providers.batch_api import BatchLimits
from promptlab_nb.engine.providers.openai_provider import OpenAIProvider
from promptlab_nb.services.judge_batches import PendingJudging

pytest_plugins = ["fakes.fixtures"]

JUDGED_PROVIDERS = ["openai", "anthropic"]
RUBRIC = "The longer answer wins."
PAIRWISE_IN_A_CHILD = """
import json, sys
import promptlab_nb as pl

url, providers, model, a, b = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
lab = pl.Lab(url)
lab.settings.providers, lab.settings.max_retries = providers, 0
lab.experiment("capitals").pairwise(a, b, judge=pl.evals.pairwise("The longer answer wins.", model=model), batch=True)
"""
GRADED = re.compile(r"<output>\n(.*?)\n</output>", re.DOTALL)


@pytest.fixture
def capitals(lab, fake_server):
    """Three variants of mock models answered live, and a lab whose judges reach the fakes."""
    lab.settings.providers = provider_options(fake_server)
    lab.settings.max_retries = 0
    return compare_capitals(lab, name="capitals")


def grades_the_capital(messages) -> str:
    """A grading judge: 1 when the graded output names a city, else 0."""
    graded = GRADED.search(messages[-1]["content"]).group(1)
    return json.dumps({"score": 0 if graded == "?" else 1, "reason": "names a city"})


def verdict_rows(lab):
    return lab.sql("select row_index, winner_run_id, cost, error from pairwise_verdict order by row_index")


def judge_batches(experiment):
    return experiment.batches[experiment.batches["judge"].notna()]


def live_calls(fake_server) -> int:
    return len(fake_server.script.received)


@pytest.mark.parametrize("provider", JUDGED_PROVIDERS)
def test_a_pairwise_judge_in_batch_mode_sends_both_orders_and_a_refresh_stores_the_verdicts_once(
    lab, capitals, fake_server, provider
):
    # Given a judge on a provider's batch API that prefers the longer answer, and batches taking two reads
    fake_server.batches.answer = prefers_longer
    fake_server.batches.polls_to_finish = 2
    judge = pl.evals.pairwise(RUBRIC, model=MODELS[provider])

    # When short is compared with long in batch mode
    pending = capitals.pairwise(SHORT_VARIANT, LONG_VARIANT, judge=judge, batch=True)

    # Then both orders of the six rows went in one batch (Italy's two outputs are the same, one request),
    # the answer says what is pending, and no verdict is stored
    assert isinstance(pending, PendingJudging)
    assert "11 requests pending in 1 provider batch(es)" in repr(pending) and "exp.refresh()" in repr(pending)
    assert fake_server.batches.submitted_lines == 11 and live_calls(fake_server) == 0
    assert judge_batches(capitals)[["provider", "judge", "status", "requests"]].values.tolist() == [
        [provider, "pairwise", "in_progress", 11]
    ]
    assert verdict_rows(lab).empty

    # When it is asked again live and refreshed while the batch still runs
    again = capitals.pairwise(SHORT_VARIANT, LONG_VARIANT, judge=judge)
    capitals.refresh(progress=False)

    # Then it is still pending: no call made, nothing stored
    assert isinstance(again, PendingJudging) and verdict_rows(lab).empty
    assert fake_server.batches.submitted_lines == 11 and live_calls(fake_server) == 0

    # When it is refreshed after the batch ended
    report = capitals.refresh(progress=False).last_batch_report

    # Then one verdict per row is stored, at batch prices (two answers, one for Italy), the batch collected
    verdicts = verdict_rows(lab)
    assert report.judged == 6 and report.judge_awaited == 0
    assert verdicts["row_index"].tolist() == list(range(6)) and verdicts["error"].isna().all()
    assert verdicts["cost"].tolist() == pytest.approx([2 * BATCH_COST[provider]] * 5 + [BATCH_COST[provider]])
    assert judge_batches(capitals)["collected"].notna().all()
    assert capitals.status == "completed"

    # When it is refreshed again and the win rate asked without batch mode
    capitals.refresh(progress=False)
    result = capitals.pairwise(LONG_VARIANT, SHORT_VARIANT, judge=judge)

    # Then nothing is stored twice, the cached answers give the win rate, and no call reached the fake
    expected = longer_wins(outputs_of(capitals, LONG_VARIANT), outputs_of(capitals, SHORT_VARIANT))
    assert len(verdict_rows(lab)) == 6
    assert result.win_rate == pytest.approx(expected.mean()) and result.bias_rate == 0.0
    assert fake_server.batches.submitted_lines == 11 and live_calls(fake_server) == 0


@pytest.mark.parametrize("provider", JUDGED_PROVIDERS)
def test_a_judge_scores_the_stored_runs_through_batches_and_a_refresh_stores_the_scores(
    lab, capitals, fake_server, provider
):
    # Given a grading judge on a provider's batch API
    fake_server.batches.answer = grades_the_capital
    judge = pl.evals.judge("The answer names the capital.", model=MODELS[provider], name="names_capital")

    # When the experiment's 18 runs are scored by it in batch mode, with a plain evaluator beside it
    pending = capitals.evaluate(judge, "contains:Paris", batch=True)

    # Then its requests wait in one batch (one per distinct output of a row: 13), the plain evaluator
    # scored at once, and no judge score is stored
    assert isinstance(pending, PendingJudging) and pending.judges == ("names_capital",)
    assert fake_server.batches.submitted_lines == 13
    runs = capitals.runs
    assert "names_capital" not in runs.columns and runs["contains:Paris"].notna().all()

    # When the batch is collected
    runs = capitals.refresh(progress=False).runs.set_index(["variant", "row_index"])

    # Then each run has its score, each answer paid once at the batch price, and the batch is collected
    assert runs["names_capital"].tolist() == [0.0 if output == "?" else 1.0 for output in runs["output"]]
    costs = sorted(lab.sql("select cost from score where evaluator = 'names_capital'")["cost"])
    assert costs == pytest.approx([0.0] * 5 + [BATCH_COST[provider]] * 13)
    assert judge_batches(capitals)["collected"].notna().all()

    # When the runs are scored by the same judge again, live
    again = capitals.evaluate(judge)

    # Then the cached answers score them: no new call, the same scores
    assert again is capitals and live_calls(fake_server) == 0 and fake_server.batches.submitted_lines == 13
    assert capitals.runs.set_index(["variant", "row_index"])["names_capital"].equals(runs["names_capital"])


def test_a_ranking_in_batch_mode_judges_every_pair_and_ranks_from_the_stored_verdicts(lab, capitals, fake_server):
    # Given a judge preferring the longer answer on Anthropic's batch API
    fake_server.batches.answer = prefers_longer
    judge = pl.evals.pairwise(RUBRIC, model=MODELS["anthropic"])

    # When the three variants are ranked in batch mode, then refreshed, then ranked again
    pending = capitals.ranking(judge=judge, batch=True)
    capitals.refresh(progress=False)
    sent = fake_server.batches.submitted_lines
    table = capitals.ranking(judge=judge, seed=0)

    # Then every pair went in one batch, the ranking comes from its answers without a new call
    assert isinstance(pending, PendingJudging) and pending.batches == 1
    assert table.index[0] == LONG_VARIANT and table["comparisons"].tolist() == [12, 12, 12]
    assert len(verdict_rows(lab)) == 18
    assert fake_server.batches.submitted_lines == sent and live_calls(fake_server) == 0


def test_a_judge_split_over_two_batches_stores_no_verdict_until_both_have_finished(
    lab, capitals, fake_server, monkeypatch
):
    # Given OpenAI batches of at most six requests, so the judge's eleven go in two
    monkeypatch.setattr(OpenAIProvider, "batch_limits", BatchLimits(max_requests=6, max_bytes=10**8))
    fake_server.batches.answer = prefers_longer
    judge = pl.evals.pairwise(RUBRIC, model=MODELS["openai"])
    pending = capitals.pairwise(SHORT_VARIANT, LONG_VARIANT, judge=judge, batch=True)
    first, second = fake_server.batches.batches.values()
    second.polls = -5

    # When it is refreshed while only the first batch has finished
    capitals.refresh(progress=False)

    # Then no verdict is stored and both batches still wait
    assert pending.batches == 2 and verdict_rows(lab).empty
    assert judge_batches(capitals)["collected"].isna().all()
    assert sorted(judge_batches(capitals)["status"]) == ["ended", "in_progress"]

    # When the second has finished too (after five more status reads)
    for _ in range(5):
        capitals.refresh(progress=False)

    # Then every verdict is stored, once, and both batches are collected
    assert second.finished and len(verdict_rows(lab)) == 6 and verdict_rows(lab)["error"].isna().all()
    assert judge_batches(capitals)["collected"].notna().all()
    assert (len(fake_server.batches.batches), fake_server.batches.submitted_lines) == (2, 11)

    # When another notebook, refreshing at the same moment, collects the same batches again
    with lab.db.connection() as connection:
        connection.execute(text("update provider_batch set collected_at = null"))
    capitals.refresh(progress=False)

    # Then each verdict is still stored once
    assert len(verdict_rows(lab)) == 6 and judge_batches(capitals)["collected"].notna().all()


def test_the_cost_guard_refuses_a_judge_batch_estimated_at_batch_prices_before_sending_it(lab, capitals, fake_server):
    # Given a cost limit below any judging
    lab.settings.cost_limit = 1e-9
    fake_server.batches.answer = prefers_longer
    judge = pl.evals.pairwise(RUBRIC, model=MODELS["openai"])

    # When the judge is asked in batch mode, and live
    with pytest.raises(errors.CostLimitExceeded) as in_batch:
        capitals.pairwise(SHORT_VARIANT, LONG_VARIANT, judge=judge, batch=True)
    with pytest.raises(errors.CostLimitExceeded) as live:
        capitals.pairwise(SHORT_VARIANT, LONG_VARIANT, judge=judge)

    # Then both are refused before anything is sent (the same request counted once); in batch at half the price
    assert (in_batch.value.calls, live.value.calls) == (11, 11)
    assert in_batch.value.estimated == pytest.approx(live.value.estimated / 2)
    assert fake_server.batches.submitted_lines == 0 and capitals.batches.empty

    # When the user confirms, Then the batch is sent
    assert isinstance(
        capitals.pairwise(SHORT_VARIANT, LONG_VARIANT, judge=judge, batch=True, confirm=True), PendingJudging
    )
    assert fake_server.batches.submitted_lines == 11

    # When its answers are collected and the judge asked again live, still under the limit
    capitals.refresh(progress=False)
    result = capitals.pairwise(SHORT_VARIANT, LONG_VARIANT, judge=judge)

    # Then the cache answers every call: nothing to estimate, nothing refused, nothing sent
    assert result.n == 6 and live_calls(fake_server) == 0 and fake_server.batches.submitted_lines == 11


def test_cancelling_stores_the_verdicts_answered_and_leaves_the_experiment_as_it_was(lab, capitals, fake_server):
    # Given a judge batch that had answered its first four requests when it was cancelled
    fake_server.batches.answer = prefers_longer
    fake_server.batches.polls_to_finish = 100
    fake_server.batches.answered_before_stop = 4
    judge = pl.evals.pairwise(RUBRIC, model=MODELS["anthropic"])
    capitals.pairwise(SHORT_VARIANT, LONG_VARIANT, judge=judge, batch=True)

    # When the user cancels the experiment's batches
    capitals.cancel(progress=False)

    # Then the two rows answered in both orders have verdicts, the others say the batch was cancelled
    verdicts = verdict_rows(lab)
    assert verdicts["error"].isna().tolist() == [True, True, False, False, False, False]
    assert all("canceled" in error or "cancelled" in error for error in verdicts["error"].dropna())
    assert judge_batches(capitals)["status"].tolist() == ["cancelled"]
    # And the experiment's runs and status are untouched
    assert capitals.status == "completed" and len(capitals.runs) == 18


def test_a_judge_batch_accepted_while_the_kernel_died_is_found_and_its_verdicts_stored(
    lab, capitals, fake_server, store_url
):
    # Given a kernel killed after OpenAI accepted its judge batch and before it heard the batch's id
    fake_server.batches.answer = prefers_longer
    arguments = [store_url, json.dumps(provider_options(fake_server)), MODELS["openai"], SHORT_VARIANT, LONG_VARIANT]
    child = subprocess.Popen([sys.executable, "-c", PAIRWISE_IN_A_CHILD, *arguments], stderr=subprocess.PIPE)
    fake_server.batches.on_create = lambda batch: child.kill()
    try:
        _, stderr = child.communicate(timeout=60)
    finally:
        fake_server.batches.on_create = None
    assert child.returncode == -9, stderr.decode()
    assert judge_batches(capitals)["status"].tolist() == ["submitting"]

    # When the notebook lists its batches, refreshing them
    lab.batches(refresh=True)

    # Then the provider's batch was adopted and its verdicts stored, without a second batch
    (accepted,) = fake_server.batches.batches
    assert judge_batches(capitals)[["batch_id", "status"]].values.tolist() == [[accepted, "ended"]]
    assert len(verdict_rows(lab)) == 6 and verdict_rows(lab)["error"].isna().all()
    assert fake_server.batches.submitted_lines == 11


def test_a_store_at_0007_upgrades_in_place_to_hold_judge_batches(store_url):
    # Given a store at 0007 holding a batch of runs
    store_at_revision(store_url, "0007", LEGACY_BATCH, now=utcnow())
    # When a Lab opens it
    lab = pl.Lab(store_url)
    # Then the batch is kept, carrying runs (no judge)
    with lab.db.connection() as connection:
        judging = connection.execute(text("select judging from provider_batch")).scalars().all()
    assert judging == [None]
    lab.close()
