"""Nothing lost: runs stay buffered until their write is committed, a run is stored before it is scored,
and answers received while the store stayed locked are stored by resume() without calling the model again."""

from __future__ import annotations

import _thread
import asyncio
import subprocess
import sys
import textwrap

import pytest

import promptlab_nb as pl
from promptlab_nb.core import errors
from promptlab_nb.core.ids import new_id, utcnow
from promptlab_nb.core.vocabulary import Mode, RunStatus
from promptlab_nb.engine.cache import ResponseCache
from promptlab_nb.engine.run_rows import RunRecord
from promptlab_nb.engine.sink import RunSink

HOLDER = textwrap.dedent(
    """
    import sys, duckdb
    while True:
        try:
            connection = duckdb.connect(sys.argv[1])
            break
        except duckdb.IOException:
            pass
    print("holding", flush=True)
    sys.stdin.readline()
    """
)


def hold_store(path) -> subprocess.Popen:
    """Another process that opens the DuckDB file as soon as it can and keeps it until told to let go."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "holding"
    return holder


def let_go(holder: subprocess.Popen) -> None:
    holder.stdin.close()
    holder.wait(timeout=30)


def run_record(record, index: int) -> RunRecord:
    return RunRecord(
        id=new_id(),
        experiment_id=record.id,
        variant_id=record.variants[0].id,
        row_index=index,
        repeat=0,
        status=RunStatus.OK,
        mode=Mode.LIVE,
        messages=None,
        output=f"answer {index}",
        parsed=None,
        error=None,
        failed_step=None,
        latency_ms=None,
        input_tokens=None,
        output_tokens=None,
        cost=None,
        cache_hit=False,
        request_id=None,
        started_at=utcnow(),
        finished_at=utcnow(),
    )


def test_runs_whose_write_found_the_store_locked_stay_buffered_and_are_stored_by_the_next_write(tmp_path):
    # Given a sink with runs to write and another process holding the DuckDB file past the lock timeout
    path = tmp_path / "busy.duckdb"
    lab = pl.Lab(path, settings=pl.PromptLab(lock_timeout=0.2))
    lab.templates.save("hello", "Hello {{ name }}", model="mock:echo")
    experiment = lab.plan("hello", [{"name": f"person {index}"} for index in range(10)])
    record = experiment.record
    sink = RunSink(lab.db, ResponseCache(lab.db))
    for index in range(6):
        sink.add(run_record(record, index), [], [])
    lab.db.dispose()
    holder = hold_store(path)
    # When a write fails on the lock
    try:
        with pytest.raises(errors.StoreLocked, match=rf"PID {holder.pid}"):
            sink.flush()
        for index in range(6, 10):
            sink.add(run_record(record, index), [], [])
    finally:
        let_go(holder)
    # Then the next write, once the store is free, stores every run, those of the failed write included
    asyncio.run(sink.finish())
    assert sorted(experiment.runs["output"]) == sorted(f"answer {index}" for index in range(10))
    assert sink.unsaved().runs == []
    lab.close()


def holding_the_store_at_the_last_answer(path, answers: int, holders: list):
    """A mock answer that, at the last of ``answers`` answers, has another process take the store."""
    given = iter(range(1, answers + 1))

    def answer(messages):
        if next(given) == answers:
            holders.append(hold_store(path))
        return "paid answer"

    return answer


def test_answers_the_store_could_not_take_raise_store_locked_and_resume_stores_them_without_paying_again(tmp_path):
    # Given an experiment of 40 runs, and another process that takes the DuckDB file as the last answer comes
    path = tmp_path / "team.duckdb"
    lab = pl.Lab(path, settings=pl.PromptLab(lock_timeout=0.3))
    holders: list[subprocess.Popen] = []
    model = pl.mock_model("paid", holding_the_store_at_the_last_answer(path, 40, holders))
    lab.templates.save("hello", "Hello {{ name }}", model="mock:paid")
    experiment = lab.plan("hello", [{"name": f"person {index}"} for index in range(40)], name="locked-out")
    # When it runs, and the store stays locked past the lock timeout
    try:
        with pytest.raises(errors.StoreLocked) as raised:
            experiment.resume(progress=False)
        holder = holders[0]
    finally:
        for holder in holders:
            let_go(holder)
    # Then the error names the holder and says the answers are kept; the experiment shows them unsaved
    assert f"PID {holder.pid}" in str(raised.value)
    assert "resume()" in str(raised.value)
    assert experiment.status == "unsaved"
    assert "unsaved" in repr(experiment)
    assert model.calls == 40
    # When it is resumed once the store is free
    experiment.resume(progress=False)
    # Then every answer is stored once, without calling the model again, and the experiment is completed
    runs = experiment.runs
    assert len(runs) == 40 and set(runs["output"]) == {"paid answer"}
    assert not runs.duplicated(["row_index", "repeat"]).any()
    assert model.calls == 40
    assert experiment.status == "completed"
    lab.close()


def interrupting_the_kernel(messages) -> str:
    _thread.interrupt_main()
    return '{"score": 1, "reason": "fine"}'


def test_a_run_interrupted_while_being_scored_is_stored(lab):
    # Given a run scored by a judge that presses the kernel's interrupt, then by a slow judge
    pl.mock_model("pressing-judge", interrupting_the_kernel)
    pl.mock_model("slow-judge", '{"score": 1}', latency=30)
    lab.templates.save("hello", "Hello {{ name }}", model="mock:echo")
    judges = [
        pl.evals.judge("Is it polite?", model="mock:pressing-judge", name="polite"),
        pl.evals.judge("Is it short?", model="mock:slow-judge", name="short"),
    ]
    # When the kernel is interrupted while the run is being scored
    experiment = lab.run("hello", [{"name": "Ada"}], evaluators=judges, name="scored", progress=False)
    # Then the run is stored with its answer, and the experiment is marked interrupted
    assert experiment.status == "interrupted"
    runs = experiment.runs
    assert runs["output"].tolist() == ["Hello Ada"]
    assert runs["status"].tolist() == ["ok"]
