"""The comparison widget's repeats and summary chart, without a browser: what each cell says of its
repeats, and the bars the chart draws for every evaluator."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

import promptlab_nb as pl
from promptlab_nb.core import errors
from promptlab_nb.notebook.widget import ComparisonWidget
from promptlab_nb.notebook.widget_diff import ADDED, REMOVED, SAME

COUNTRIES = pd.DataFrame({"country": ["France", "Japan", "Peru"], "expected": ["Paris", "Tokyo", "Lima"]})
STEADY_VARIANT, FLAKY_VARIANT = "capital@1 | mock:steady", "capital@1 | mock:flaky"


def answers_in_turn(answers: dict[str, list[str]]) -> Callable[[list[dict[str, str]]], str]:
    """A model whose n-th answer about a country is the n-th of its answers; ``"error"`` fails that call."""
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def respond(messages: list[dict[str, str]]) -> str:
        country = next(name for name in answers if name in messages[-1]["content"])
        with lock:
            answer = answers[country][calls[country] % len(answers[country])]
            calls[country] += 1
        if answer == "error":
            raise errors.BadRequest("the model refused", provider="mock")
        return answer

    return respond


@pytest.fixture
def repeated(lab):
    pl.mock_model("steady", {"france": "Paris", "japan": "Tokyo", "peru": "Lima"})
    pl.mock_model(
        "flaky",
        answers_in_turn({"France": ["Paris", "Lyon"], "Japan": ["Tokyo", "Tokyo"], "Peru": ["error", "Lima"]}),
    )
    lab.templates.save("capital", "What is the capital of {{ country }}?")
    return lab.compare(
        ["capital"],
        COUNTRIES,
        models=["mock:steady", "mock:flaky"],
        repeats=2,
        evaluators=["equals:expected"],
        progress=False,
    )


def cell_of(widget: ComparisonWidget, country: str, variant: str) -> dict[str, Any]:
    row = next(row for row in widget.view["rows"] if dict(row["inputs"])["country"] == country)
    return row["cells"][widget.variants.index(variant)]


def test_a_cell_of_an_experiment_with_two_repeats_holds_both_and_says_how_many_passed(repeated):
    # Given an experiment run twice per cell, where the flaky model answers France right once
    # When the user opens the widget
    view = repeated.widget()

    # Then each cell holds both repeats, in order, each with its own run, and counts those that passed
    france = cell_of(view, "France", FLAKY_VARIANT)
    assert france["repeat_count"] == 2 and france["passed"] == 1
    assert sorted(repeat["output"] for repeat in france["repeats"]) == ["Lyon", "Paris"]
    numbers = [repeat["repeat"] for repeat in france["repeats"]]
    assert numbers == sorted(set(numbers)) and len(numbers) == 2
    assert len({repeat["run_id"] for repeat in france["repeats"]}) == 2
    assert france["run_id"] == france["repeats"][0]["run_id"]
    japan = cell_of(view, "Japan", FLAKY_VARIANT)
    assert (japan["passed"], japan["repeat_count"]) == (2, 2)


def test_a_repeat_that_failed_to_run_is_shown_and_does_not_pass(repeated):
    # Given an experiment where one of Peru's two flaky runs failed with an error
    # When the user opens the widget
    view = repeated.widget()

    # Then Peru's flaky cell shows the failed repeat next to the one that ran, and 1 of 2 passed
    peru = cell_of(view, "Peru", FLAKY_VARIANT)
    assert sorted(repeat["status"] for repeat in peru["repeats"]) == ["error", "ok"]
    assert (peru["passed"], peru["repeat_count"]) == (1, 2)


def test_every_repeat_is_diffed_against_the_baseline(repeated):
    # Given the widget of an experiment with two repeats
    view = repeated.widget()

    # When the user diffs against the steady variant
    view.baseline = "variant:0"

    # Then each of the flaky model's France repeats carries its own diff
    diffs = sorted(repeat["diff"] for repeat in cell_of(view, "France", FLAKY_VARIANT)["repeats"])
    assert diffs == [[[REMOVED, "Paris"], [ADDED, "Lyon"]], [[SAME, "Paris"]]]


def test_rating_the_second_repeat_shows_on_that_repeat_only(repeated):
    # Given the widget of an experiment with two repeats
    view = repeated.widget()
    second = cell_of(view, "Japan", FLAKY_VARIANT)["repeats"][1]

    # When the user rates the second repeat
    view.rate(second["run_id"], 1, "fine")

    # Then that repeat shows the rating and the first does not
    first, rated = cell_of(view, "Japan", FLAKY_VARIANT)["repeats"]
    assert (rated["rating"], rated["rating_note"]) == (1, "fine")
    assert first["rating"] is None


def test_the_chart_has_a_labelled_bar_per_variant_for_every_evaluator_even_at_zero(lab):
    # Given two variants scored by two evaluators, one of which every run of the second variant fails
    pl.mock_model("right", {"france": "Paris", "japan": "Tokyo", "peru": "Lima"})
    pl.mock_model("wrong", "no idea")
    lab.templates.save("capital", "What is the capital of {{ country }}?")
    experiment = lab.compare(
        ["capital"],
        COUNTRIES,
        models=["mock:right", "mock:wrong"],
        evaluators=["equals:expected", pl.evals.contains("i")],
        progress=False,
    )

    # When the user opens the widget
    view = experiment.widget()

    # Then the chart has one set of bars per evaluator, each bar named after its variant and labelled
    # with its mean and interval (Wilson's for a rate whose rows all pass or all fail: n / (n + 1.96²) from
    # the far end, 3 rows here), and a mean of 0 is a bar with its label like any other
    assert [chart["evaluator"] for chart in view.chart] == ["equals:expected", "contains:i"]
    equals = view.chart[0]
    assert [bar["variant"] for bar in equals["bars"]] == ["capital@1 | mock:right", "capital@1 | mock:wrong"]
    right, wrong = equals["bars"]
    assert (right["mean"], right["text"]) == (1.0, "1.00 [0.44, 1.00]")
    assert (wrong["mean"], wrong["text"]) == (0.0, "0.00 [0.00, 0.56]")
    assert equals["top"] == 1.0
