"""One sync/async pattern: every blocking method of Lab and Experiment is the sync form of an ``a…``
coroutine method, gives what the coroutine gives, and works where an event loop already runs (a kernel)."""

from __future__ import annotations

import asyncio
import inspect

import pandas as pd
import pytest

import promptlab_nb as pl
from promptlab_nb import Experiment, Lab

SYNC_METHODS = [
    (Lab, "run"),
    (Lab, "compare"),
    (Experiment, "refresh"),
    (Experiment, "cancel"),
    (Experiment, "resume"),
    (Experiment, "evaluate"),
]
COUNTRIES = pd.DataFrame({"country": ["France", "Japan"], "expected": ["Paris", "Tokyo"]})


@pytest.fixture
def capital_lab(lab):
    pl.mock_model("capitals", {"france": "Paris", "japan": "Kyoto"})
    lab.templates.save("capital", "What is the capital of {{ country }}?")
    return lab


def outputs(experiment: Experiment) -> list[tuple[str, str]]:
    runs = experiment.runs
    return sorted(zip(runs["country"], runs["output"], strict=True))


def scores(experiment: Experiment) -> list[tuple[str, float]]:
    runs = experiment.runs
    return sorted(zip(runs["country"], runs["contains:Paris"], strict=True))


@pytest.mark.parametrize(("owner", "name"), SYNC_METHODS, ids=[f"{o.__name__}.{n}" for o, n in SYNC_METHODS])
def test_every_sync_method_has_an_async_counterpart_with_the_same_signature(owner, name):
    # Given the sync method and its a… counterpart
    sync_method, async_method = getattr(owner, name), getattr(owner, f"a{name}", None)
    # Then the counterpart is a coroutine function, the sync one is not, and both take the same arguments
    assert async_method is not None, f"{owner.__name__}.{name} has no a{name}"
    assert inspect.iscoroutinefunction(async_method)
    assert not inspect.iscoroutinefunction(sync_method)
    assert inspect.signature(sync_method) == inspect.signature(async_method)
    assert sync_method.__name__ == name


def test_run_and_arun_store_the_same_runs(capital_lab):
    # When the same template runs once through run and once through arun
    ran = capital_lab.run("capital", COUNTRIES, model="mock:capitals", name="sync", progress=False)
    awaited = asyncio.run(capital_lab.arun("capital", COUNTRIES, model="mock:capitals", name="async", progress=False))
    # Then both are experiments holding the same answers
    assert isinstance(awaited, Experiment)
    assert outputs(ran) == outputs(awaited) == [("France", "Paris"), ("Japan", "Kyoto")]


def test_evaluate_and_aevaluate_store_the_same_scores(capital_lab):
    # Given two experiments with the same runs
    first, second = (
        capital_lab.compare(["capital"], COUNTRIES, models=["mock:capitals"], name=name, progress=False)
        for name in ("first", "second")
    )
    # When one is scored through evaluate and the other through aevaluate
    evaluated = first.evaluate("contains:Paris", progress=False)
    awaited = asyncio.run(second.aevaluate("contains:Paris", progress=False))
    # Then both return their experiment with the same scores
    assert evaluated is first and awaited is second
    assert scores(first) == scores(second) == [("France", 1.0), ("Japan", 0.0)]


def test_resume_refresh_and_cancel_return_the_experiment_like_their_async_forms(capital_lab):
    # Given two planned experiments
    first = capital_lab.plan(["capital"], COUNTRIES, models=["mock:capitals"], name="first")
    second = capital_lab.plan(["capital"], COUNTRIES, models=["mock:capitals"], name="second")
    # When each is resumed, refreshed and cancelled, once synchronously and once awaited
    for method in ("resume", "refresh", "cancel"):
        assert getattr(first, method)(progress=False) is first
        assert asyncio.run(getattr(second, f"a{method}")(progress=False)) is second
    # Then both ran the same runs and ended in the same state
    assert outputs(first) == outputs(second)
    assert first.status == second.status == "completed"


def test_sync_methods_work_inside_a_running_event_loop_as_in_a_kernel(capital_lab):
    # Given code running inside an event loop, as a notebook cell does in a Jupyter kernel
    async def cell() -> Experiment:
        experiment = capital_lab.run("capital", COUNTRIES, model="mock:capitals", progress=False)
        return experiment.evaluate("contains:Paris", progress=False).resume(progress=False)

    # When it calls the sync methods, Then they run to completion and return the experiment
    experiment = asyncio.run(cell())
    assert scores(experiment) == [("France", 1.0), ("Japan", 0.0)]
