"""Batch mode keeps every answer paid for: an interrupted refresh leaves its batch to the next one,
and a batch the provider accepted while the kernel died before recording it is found again.
Real SDKs against the loopback fakes, real kernel interrupts, a real process killed."""

from __future__ import annotations

import _thread
import itertools
import json
import subprocess
import sys
from datetime import timedelta

import pandas as pd
import pytest
from batch_support import MODELS, countries, on_the_fakes, provider_options
from sqlalchemy import text
from store_support import LEGACY_BATCH, store_at_revision

import promptlab_nb as pl
from promptlab_nb.core.ids import utcnow
from promptlab_nb.engine.providers.mock import mock_model
from promptlab_nb.services.provider_batches import BatchService

pytest_plugins = ["fakes.fixtures"]

SUBMIT_IN_A_CHILD = """
import json, sys
import promptlab_nb as pl

url, providers, template = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
lab = pl.Lab(url)
lab.settings.providers, lab.settings.max_retries = providers, 0
lab.run(template, [{"country": f"country {row}"} for row in range(3)], mode="batch", name="orphan", progress=False)
"""


@pytest.fixture
def batch_lab(lab, fake_server):
    lab.settings.concurrency = 1
    return on_the_fakes(lab, fake_server)


def interrupting_judge(after: int) -> str:
    """A judge model, slow enough to be interrupted between runs, that presses the kernel's
    interrupt when it gives its ``after``-th answer."""
    given = itertools.count(1)

    def answer(messages):
        if next(given) == after:
            _thread.interrupt_main()
        return '{"score": 1, "reason": "names a capital"}'

    mock_model("interrupting-judge", answer, latency=0.05)
    return "mock:interrupting-judge"


def submit_in_a_process_killed_once_the_provider_accepts(lab: pl.Lab, fake_server, store_url: str, provider: str):
    """Run a batch submit in a child process that the fake provider kills after creating the batch,
    before its answer reaches the child: the kernel died between the provider's acceptance and the store."""
    arguments = [store_url, json.dumps(provider_options(fake_server)), f"capital_{provider}"]
    child = subprocess.Popen([sys.executable, "-c", SUBMIT_IN_A_CHILD, *arguments], stderr=subprocess.PIPE)
    fake_server.batches.on_create = lambda batch: child.kill()
    try:
        _, stderr = child.communicate(timeout=60)
    finally:
        fake_server.batches.on_create = None
    assert child.returncode == -9, stderr.decode()


def assert_each_cell_once(runs: pd.DataFrame) -> None:
    assert not runs.duplicated(["variant", "row_index", "repeat"]).any()


@pytest.mark.parametrize("provider", list(MODELS))
def test_an_interrupted_refresh_raises_the_interrupt_and_the_next_refresh_stores_the_rest(
    batch_lab, fake_server, provider
):
    # Given a finished batch of 20 requests, scored by a judge that interrupts the kernel at its third answer
    judge = pl.evals.judge("The answer names a capital.", model=interrupting_judge(after=3))
    experiment = batch_lab.run(
        f"capital_{provider}", countries(20), mode="batch", evaluators=[judge], name="interrupted", progress=False
    )
    # When it is refreshed, Then the interrupt reaches the caller once what finished is stored
    with pytest.raises(KeyboardInterrupt):
        experiment.refresh(progress=False)
    stored = len(experiment.runs)
    # And the batch is not collected, so the experiment still awaits the rest
    assert 0 < stored < 20
    assert experiment.batches["collected"].isna().all()
    assert experiment.status == "submitted"
    # When it is refreshed again
    runs = experiment.refresh(progress=False).runs
    # Then every answer of the one batch paid for is stored once, and the batch is collected
    assert len(runs) == 20 and set(runs["status"]) == {"ok"}
    assert_each_cell_once(runs)
    assert experiment.batches["collected"].notna().all()
    assert experiment.status == "completed"
    assert (len(fake_server.batches.batches), fake_server.batches.submitted_lines) == (1, 20)


@pytest.mark.parametrize("provider", list(MODELS))
def test_a_batch_accepted_while_the_kernel_died_is_found_and_collected_by_prompt_batches(
    batch_lab, fake_server, store_url, provider
):
    # Given a kernel killed after the provider accepted its batch and before it heard the batch's id
    submit_in_a_process_killed_once_the_provider_accepts(batch_lab, fake_server, store_url, provider)
    (accepted,) = fake_server.batches.batches
    # When a notebook lists the batches (what %prompt batches does), refreshing them
    listing = batch_lab.batches(refresh=True)
    # Then the provider's batch was adopted and its answers stored, without a second batch
    assert listing[["experiment", "batch_id", "status", "requests"]].values.tolist() == [
        ["orphan", accepted if provider != "gemini" else f"batches/{accepted}", "ended", 3]
    ]
    assert listing["collected"].notna().all()
    runs = batch_lab.experiment("orphan").runs
    assert len(runs) == 3 and set(runs["status"]) == {"ok"} and set(runs["mode"]) == {"batch"}
    assert batch_lab.experiment("orphan").status == "completed"
    assert (len(fake_server.batches.batches), fake_server.batches.submitted_lines) == (1, 3)


def test_cancelling_an_experiment_whose_kernel_died_while_submitting_cancels_the_batch_the_provider_accepted(
    batch_lab, fake_server, store_url
):
    # Given a kernel killed after the provider accepted its batch and before it heard the batch's id
    submit_in_a_process_killed_once_the_provider_accepts(batch_lab, fake_server, store_url, "anthropic")
    (accepted,) = fake_server.batches.batches.values()
    # When the experiment is cancelled
    experiment = batch_lab.experiment("orphan").cancel(progress=False)
    # Then the provider's batch is cancelled and its requests are stored as cancelled with it
    assert accepted.cancel_requested
    assert experiment.batches[["batch_id", "status"]].values.tolist() == [[accepted.id, "cancelled"]]
    runs = experiment.runs
    assert runs["status"].tolist() == ["error"] * 3
    assert all("cancelled" in error for error in runs["error"])
    assert experiment.status == "cancelled"


def test_a_batch_the_provider_never_got_fails_its_requests_once_no_submit_can_be_under_way(
    batch_lab, fake_server, store_url
):
    # Given a kernel that died while submitting a batch the provider then lost (it never got it)
    submit_in_a_process_killed_once_the_provider_accepts(batch_lab, fake_server, store_url, "openai")
    fake_server.batches.batches.clear()
    experiment = batch_lab.experiment("orphan")
    # When it is refreshed at once, Then its requests still wait: the submit might still be under way
    assert experiment.refresh(progress=False).runs.empty
    assert experiment.batches["status"].tolist() == ["submitting"]
    # When it is refreshed after the submit could have finished
    with batch_lab.db.connection() as connection:
        an_hour_ago = utcnow() - timedelta(hours=1)
        connection.execute(text("update provider_batch set submitted_at = :then"), {"then": an_hour_ago})
    runs = experiment.refresh(progress=False).runs
    # Then each request is a failed run saying why, and the batch is failed and collected
    assert runs["status"].tolist() == ["error"] * 3
    assert all("has no such batch" in error for error in runs["error"])
    assert experiment.batches[["status", "collected"]].notna().all().all()
    assert experiment.batches["status"].tolist() == ["failed"]
    # And resuming in batch mode sends them again
    experiment.resume(mode="batch", progress=False)
    assert experiment.refresh(progress=False).runs["status"].tolist() == ["ok"] * 3
    assert fake_server.batches.submitted_lines == 6


def test_a_store_with_batches_upgrades_in_place_to_record_batches_before_submitting_them(store_url):
    # Given a store at 0003 holding a batch
    store_at_revision(store_url, "0003", LEGACY_BATCH, now=utcnow())
    # When a Lab opens it and records a batch about to be submitted
    lab = pl.Lab(store_url)
    with lab.db.session() as session:
        BatchService(session).record_intent("e1", "openai", "gpt-4o-mini", ["v0-r1-n0"])
    # Then the old batch is kept beside the new one, which has no provider id yet
    with lab.db.session() as session:
        batches = BatchService(session).uncollected("e1")
    assert [(batch.provider_batch_id, batch.status) for batch in batches] == [
        ("batch_old", "ended"),
        (None, "submitting"),
    ]
    lab.close()


@pytest.mark.parametrize("provider", list(MODELS))
def test_a_batch_the_provider_refuses_stores_its_requests_as_failed_runs_with_the_reason(
    batch_lab, fake_server, provider
):
    # Given a provider (on its own server address) that fails every batch it is sent
    def refuse(batch) -> None:
        raise RuntimeError("batch service down")

    fake_server.batches.on_create = refuse
    try:
        # When three requests are submitted in batch mode
        experiment = batch_lab.run(f"capital_{provider}", countries(3), mode="batch", name="refused", progress=False)
    finally:
        fake_server.batches.on_create = None
    # Then each request is a failed run that gives the provider's answer, ready to be sent again
    runs = experiment.runs
    assert len(runs) == 3 and set(runs["status"]) == {"error"}
    assert runs["error"].notna().all()
    assert set(experiment.batches["status"]) == {"failed"} and experiment.batches["collected"].notna().all()
