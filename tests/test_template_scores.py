"""A template's scores across versions: a team sees whether each new version did better, experiment
after experiment, with the labels on each version and the uncertainty of each mean."""

from __future__ import annotations

import math

import pytest

import promptlab_nb as pl
from promptlab_nb.core import errors

CAPITALS = [
    {"country": "France", "expected": "Paris"},
    {"country": "Japan", "expected": "Tokyo"},
    {"country": "Peru", "expected": "Lima"},
    {"country": "Chile", "expected": "Santiago"},
]
EVALUATOR = "equals:expected"


@pytest.fixture
def capital(lab):
    """Version 1 knows two capitals, version 2 three; v1 ran once, v2 twice (once with a failing model),
    and an experiment of v2 without the evaluator; production points at version 2."""
    pl.mock_model("two-known", {"France": "Paris", "Japan": "Tokyo", "*": "?"})
    pl.mock_model("three-known", {"France": "Paris", "Japan": "Tokyo", "Peru": "Lima", "*": "?"})
    lab.templates.save("capital", "Capital of {{ country }}?", model="mock:two-known")
    lab.run("capital", CAPITALS, evaluators=[EVALUATOR], name="first", progress=False, repeats=2)
    lab.templates.save("capital", "The capital city of {{ country }}?", model="mock:three-known")
    lab.run("capital", CAPITALS, evaluators=[EVALUATOR], name="second", progress=False)
    lab.run("capital", CAPITALS, name="unscored", progress=False)
    lab.templates.label("capital", 2, "production")
    return lab


def test_scores_has_one_row_per_experiment_with_version_labels_and_interval(capital):
    lab = capital
    # Given two versions of capital run in three experiments, production on version 2
    # When the user asks for the template's scores across versions
    history = lab.templates.scores("capital", EVALUATOR)
    # Then each experiment is a row, oldest first, with its version and the labels on that version
    assert history["experiment"].tolist() == ["first", "second", "unscored"]
    assert history["version"].tolist() == [1, 2, 2]
    assert history["labels"].tolist() == [[], ["production"], ["production"]]
    assert history["date"].is_monotonic_increasing
    # And n, mean and CI are those of each experiment's own summary (repeats averaged per row)
    for experiment in ("first", "second"):
        row = history.set_index("experiment").loc[experiment]
        summary = lab.experiment(experiment).summary().iloc[0]
        assert row["n"] == len(CAPITALS)
        assert row["mean"] == pytest.approx(summary[EVALUATOR])
        assert row["ci_low"] == pytest.approx(summary[f"{EVALUATOR} ci_low"])
        assert row["ci_high"] == pytest.approx(summary[f"{EVALUATOR} ci_high"])
    # And the experiment without that evaluator has no score
    unscored = history.set_index("experiment").loc["unscored"]
    assert unscored["n"] == 0 and math.isnan(unscored["mean"])


def refuse_peru(messages):
    prompt = messages[-1]["content"]
    if "Peru" in prompt:
        raise errors.BadRequest("refused", provider="mock")
    return {"France": "Paris", "Japan": "Tokyo"}.get(prompt.split(" ")[-1].rstrip("?"), "?")


def test_a_failed_run_counts_as_zero_as_in_the_summary(capital):
    lab = capital
    # Given an experiment of version 1 whose model fails on one country
    pl.mock_model("fails-on-peru", refuse_peru)
    lab.run("capital@1", CAPITALS, model="mock:fails-on-peru", evaluators=[EVALUATOR], name="flaky", progress=False)
    # When the scores are read
    row = lab.templates.scores("capital", EVALUATOR).set_index("experiment").loc["flaky"]
    # Then the failed row scores 0, like the experiment's summary
    assert set(lab.experiment("flaky").runs["status"]) == {"ok", "error"}
    assert row["n"] == len(CAPITALS)
    assert row["mean"] == pytest.approx(lab.experiment("flaky").summary()[EVALUATOR].iloc[0])


def test_plot_draws_the_trend_with_error_bars(capital):
    # Given two versions of capital run in three experiments, production on version 2
    pytest.importorskip("matplotlib")
    # When the history is plotted
    figure = capital.templates.scores("capital", EVALUATOR).plot()
    # Then one point per scored experiment, each marked with its version and labels
    axes = figure.axes[0]
    assert len(axes.lines[0].get_xdata()) == 2
    assert [text.get_text() for text in axes.texts] == ["v1", "v2 [production]"]
    assert [tick.get_text() for tick in axes.get_xticklabels()] == ["first", "second"]


def test_a_template_never_run_has_an_empty_history(lab):
    # Given a template no experiment has run
    lab.templates.save("fresh", "Hello {{ name }}")
    # When its scores are asked for
    history = lab.templates.scores("fresh", EVALUATOR)
    # Then the history is empty with its columns
    assert history.empty and "version" in history.columns
