"""A person's pick between two outputs of one row, stored as shown (left and right)."""

from __future__ import annotations

import pandas as pd
import pytest

import promptlab_nb as pl
from promptlab_nb.core import errors

QUESTIONS = pd.DataFrame({"country": ["France", "Japan"], "expected": ["Paris", "Tokyo"]})
SHORT, LONG = "capital@1 | mock:short", "capital@1 | mock:long"


@pytest.fixture
def capitals(lab):
    pl.mock_model("short", {"france": "Paris", "japan": "Tokyo"})
    pl.mock_model("long", {"france": "The capital is Paris.", "japan": "The capital is Tokyo."})
    lab.templates.save("capital", "What is the capital of {{ country }}?")
    return lab.compare(["capital"], QUESTIONS, models=["mock:short", "mock:long"], progress=False)


def run_of(experiment, variant: str, row_index: int) -> str:
    runs = experiment.runs
    return runs[(runs["variant"] == variant) & (runs["row_index"] == row_index)]["run_id"].iloc[0]


def test_preferences_are_stored_with_the_variants_shown_and_a_tie_is_none(lab, capitals):
    # Given the two variants' runs of each row
    france_short, france_long = run_of(capitals, SHORT, 0), run_of(capitals, LONG, 0)
    japan_short, japan_long = run_of(capitals, SHORT, 1), run_of(capitals, LONG, 1)
    # When a person prefers the long answer for France (shown right) and calls Japan a tie
    capitals.prefer(france_short, france_long, france_long, note="full sentence")
    capitals.prefer(japan_long, japan_short, None)
    # Then both picks are stored with the sides they were shown on
    stored = lab.experiment(capitals.name).preferences
    assert stored[["row_index", "left_variant", "right_variant", "preferred_variant", "note"]].to_dict("records") == [
        {
            "row_index": 0,
            "left_variant": SHORT,
            "right_variant": LONG,
            "preferred_variant": LONG,
            "note": "full sentence",
        },
        {"row_index": 1, "left_variant": LONG, "right_variant": SHORT, "preferred_variant": None, "note": None},
    ]


def test_a_preference_between_runs_that_cannot_be_compared_is_refused_and_nothing_stored(lab, capitals):
    # Given runs of different rows, of one variant, and a run id that does not exist
    france_short, france_long = run_of(capitals, SHORT, 0), run_of(capitals, LONG, 0)
    japan_long = run_of(capitals, LONG, 1)
    # When each is offered as a preference, Then each is refused with what to do
    with pytest.raises(errors.InvalidData, match="same data row"):
        capitals.prefer(france_short, japan_long, france_short)
    with pytest.raises(errors.InvalidData, match="two variants"):
        capitals.prefer(france_long, france_long, None)
    with pytest.raises(errors.InvalidData, match="one of the two runs"):
        capitals.prefer(france_short, france_long, japan_long)
    with pytest.raises(errors.RunNotFound):
        capitals.prefer(france_short, "no-such-run", None)
    assert capitals.preferences.empty
