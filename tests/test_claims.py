"""One session at a time runs an experiment: it is claimed (owner and heartbeat) before it runs, a second
resume is refused naming the owner, and the claim of a dead kernel is taken over."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

import promptlab_nb as pl
from promptlab_nb.core import errors
from promptlab_nb.core.ids import utcnow
from promptlab_nb.store.models import StoredExperiment

HOST = socket.gethostname()
ROWS = [{"name": f"person {index}"} for index in range(5)]

RESUMER = textwrap.dedent(
    """
    import sys
    import promptlab_nb as pl
    from promptlab_nb.core.errors import ExperimentBusy

    url, name = sys.argv[1], sys.argv[2]
    first = []

    def answer(messages):
        if not first:
            first.append(True)
            print("running", flush=True)
            sys.stdin.readline()
        return "paid answer"

    model = pl.mock_model("paid", answer)
    try:
        experiment = pl.Lab(url).experiment(name).resume(progress=False)
    except ExperimentBusy as busy:
        print(f"busy: {busy}", flush=True)
    else:
        print(f"{experiment.status} after {model.calls} calls", flush=True)
    """
)


def planned_experiment(url: str, name: str = "shared") -> None:
    lab = pl.Lab(url)
    lab.templates.save("hello", "Hello {{ name }}", model="mock:paid")
    lab.plan("hello", ROWS, name=name)
    lab.close()


def resumer(url: str, name: str = "shared") -> subprocess.Popen:
    """A notebook process that resumes the experiment; its first answer waits until it is told to go on."""
    return subprocess.Popen(
        [sys.executable, "-c", RESUMER, url, name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def first_to_exit(processes: list[subprocess.Popen], timeout: float = 60) -> subprocess.Popen:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                return process
        time.sleep(0.02)
    raise AssertionError("neither session ended")


def finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate("go\n", timeout=60)
    return output


def stored_runs(url: str, name: str = "shared"):
    lab = pl.Lab(url)
    try:
        experiment = lab.experiment(name)
        return experiment.runs, experiment.status
    finally:
        lab.close()


def test_two_sessions_resuming_one_experiment_at_once_run_it_once(store_url):
    # Given a stored experiment and two notebook processes
    planned_experiment(store_url)
    sessions = [resumer(store_url), resumer(store_url)]
    try:
        # When both resume it at the same time
        refused = first_to_exit(sessions)
        running = next(session for session in sessions if session is not refused)
        # Then one runs it and the other is refused with one line naming the owner
        refusal = refused.stdout.read().strip()
        assert refusal.startswith("busy: Experiment 'shared' is running in")
        assert f"{HOST} (PID {running.pid})" in refusal
        assert len(refusal.splitlines()) == 1
        assert running.stdout.readline().strip() == "running"
        assert finish(running).strip() == f"completed after {len(ROWS)} calls"
    finally:
        for session in sessions:
            session.kill()
            session.wait()
    # And every run is stored once, with the claim released
    runs, status = stored_runs(store_url)
    assert len(runs) == len(ROWS) and set(runs["output"]) == {"paid answer"}
    assert status == "completed"
    assert unclaimed(store_url)


def unclaimed(url: str) -> bool:
    lab = pl.Lab(url)
    try:
        claims = lab.sql("select claimed_by, heartbeat_at from experiment")
        return claims[["claimed_by", "heartbeat_at"]].isna().all(axis=None)
    finally:
        lab.close()


def test_a_resume_while_another_session_runs_the_experiment_is_refused_naming_it(store_url):
    # Given a notebook process running an experiment
    planned_experiment(store_url)
    owner = resumer(store_url)
    try:
        assert owner.stdout.readline().strip() == "running"
        lab = pl.Lab(store_url)
        pl.mock_model("paid", "answer paid twice")
        # When this session resumes it too
        with pytest.raises(errors.ExperimentBusy, match=rf"running in .*{HOST} \(PID {owner.pid}\)") as busy:
            lab.experiment("shared").resume(progress=False)
        lab.close()
        # Then it is refused as a conflict, and the owner finishes the experiment alone
        assert busy.value.http_status == 409
        assert finish(owner).strip() == f"completed after {len(ROWS)} calls"
    finally:
        owner.kill()
        owner.wait()
    runs, _ = stored_runs(store_url)
    assert set(runs["output"]) == {"paid answer"} and len(runs) == len(ROWS)


def test_the_claim_of_a_dead_kernel_is_taken_over(store_url):
    # Given a notebook process that claimed the experiment and died while running it
    planned_experiment(store_url)
    dead = resumer(store_url)
    assert dead.stdout.readline().strip() == "running"
    dead.kill()
    dead.wait()
    # When this session resumes it
    lab = pl.Lab(store_url)
    pl.mock_model("paid", "paid answer")
    experiment = lab.experiment("shared").resume(progress=False)
    # Then it runs what is missing and ends completed, the claim released
    assert experiment.status == "completed"
    assert len(experiment.runs) == len(ROWS)
    lab.close()
    assert unclaimed(store_url)


def claimed_elsewhere(lab, name: str, seconds_ago: float) -> None:
    """The claim a session on another machine left, its last heartbeat ``seconds_ago``."""
    with lab.db.session() as session:
        session.execute(
            update(StoredExperiment)
            .where(StoredExperiment.name == name)
            .values(
                claimed_by="alice@laptop (PID 4242)",
                claim_token="01HXCLAIMFROMANOTHERHOST0",
                claim_host="laptop",
                claim_pid=4242,
                heartbeat_at=utcnow() - timedelta(seconds=seconds_ago),
            )
        )


def test_a_claim_from_another_machine_holds_while_it_beats_and_is_taken_over_once_stale(store_url):
    # Given an experiment claimed by a teammate's session on another machine
    planned_experiment(store_url)
    lab = pl.Lab(store_url, settings=pl.PromptLab(claim_stale_after=120))
    pl.mock_model("paid", "paid answer")
    claimed_elsewhere(lab, "shared", seconds_ago=5)
    # When its heartbeat is recent, Then a resume here is refused naming it
    with pytest.raises(errors.ExperimentBusy, match=r"alice@laptop \(PID 4242\)"):
        lab.experiment("shared").resume(progress=False)
    # When its heartbeat is older than the stale threshold, Then a resume here takes the experiment over
    claimed_elsewhere(lab, "shared", seconds_ago=600)
    assert lab.experiment("shared").resume(progress=False).status == "completed"
    lab.close()


def test_a_batch_is_collected_by_one_session_at_a_time(store_url):
    # Given a submitted batch experiment that a teammate's live session is collecting
    lab = pl.Lab(store_url, settings=pl.PromptLab(claim_stale_after=120))
    pl.mock_model("overnight", respond=lambda messages: messages[-1]["content"].upper(), batch_delay=0)
    lab.templates.save("shout", "say {{ name }}", model="mock:overnight")
    experiment = lab.run("shout", ROWS, mode="batch", name="nightly", progress=False)
    claimed_elsewhere(lab, "nightly", seconds_ago=5)
    # When this session refreshes or cancels it, Then it is refused naming the teammate and nothing is stored
    for collect in (experiment.refresh, experiment.cancel):
        with pytest.raises(errors.ExperimentBusy, match=r"alice@laptop \(PID 4242\)"):
            collect(progress=False)
    assert experiment.runs.empty and experiment.status == "submitted"
    # When the teammate's claim has gone stale, Then the refresh collects every answer once
    claimed_elsewhere(lab, "nightly", seconds_ago=600)
    assert experiment.refresh(progress=False).runs["output"].tolist() == [f"SAY PERSON {i}" for i in range(5)]
    assert experiment.status == "completed"
    lab.close()
