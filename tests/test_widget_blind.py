"""Issue 19 item 2: blind human rating in the comparison widget, without a browser. No variant name in
anything the widget sends to the view, each row's sides shuffled the same way every time, picks stored
as preferences that ``exp.pairwise`` reads, and ratings still working."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

import promptlab_nb as pl
from promptlab_nb.notebook.widget import ComparisonWidget
from promptlab_nb.notebook.widget_blind import MASKED_TRAITS, side_order

QUESTIONS = pd.DataFrame(
    {
        "country": [f"country {index}" for index in range(12)],
        "expected": [f"capital {index}" for index in range(12)],
    }
)
SHORT, LONG, ODD = "capital@1 | mock:short", "capital@1 | mock:long", "capital@1 | mock:odd"


def short(messages: list[dict[str, str]]) -> str:
    return "capital " + messages[-1]["content"].rstrip("?").rsplit(" ", 1)[-1]


def long(messages: list[dict[str, str]]) -> str:
    return f"The capital is {short(messages)}."


@pytest.fixture
def capitals(lab):
    pl.mock_model("short", short)
    pl.mock_model("long", long)
    lab.templates.save("capital", "What is the capital of {{ country }}?")
    return lab.compare(
        ["capital"], QUESTIONS, models=["mock:short", "mock:long"], evaluators=["equals:expected"], progress=False
    )


def sent_to_view(widget: ComparisonWidget) -> str:
    """Every synced trait as the view receives it, as one JSON text."""
    return json.dumps({name: getattr(widget, name) for name in widget.keys}, default=str)


def sides(widget: ComparisonWidget) -> dict[int, list[str]]:
    """Per row on the page, the outputs in the order shown."""
    return {row["row_index"]: [cell["output"] for cell in row["cells"]] for row in widget.view["rows"]}


def pair_of(widget: ComparisonWidget, row_index: int) -> dict[str, Any]:
    return next(row["pair"] for row in widget.view["rows"] if row["row_index"] == row_index)


def test_a_blind_widget_sends_no_variant_name_to_the_view(capitals):
    # Given the widget of two variants, with the diff against a variant and a score sort chosen
    widget = capitals.widget(diff_against=SHORT)
    widget.sort_by = "score:0:1"
    assert SHORT in sent_to_view(widget)
    # When the user switches blind on
    widget.blind = True
    # Then nothing the view receives names a variant or a model, and the views that single one out are left
    sent = sent_to_view(widget)
    assert not [name for name in (SHORT, LONG, "mock:short", "mock:long", "mock") if name in sent]
    assert widget.variants == ["output A", "output B"]
    assert (widget.summary, widget.chart) == ([], [])
    assert [option["key"] for option in widget.sort_options] == ["row"]
    assert (widget.sort_by, widget.baseline) == ("row", "")
    # And every row still shows both outputs
    assert all(len([cell for cell in row["cells"] if cell]) == 2 for row in widget.view["rows"])


def test_each_row_keeps_its_sides_while_paging_and_in_another_widget_and_the_rows_differ(capitals):
    # Given a blind widget showing 5 rows a page
    widget = capitals.widget(blind=True)
    widget.page_size = 5
    first_page = sides(widget)
    # When the user pages on and back, and opens another blind widget of the experiment
    widget.page = 1
    widget.page = 0
    again = sides(widget)
    other = capitals.widget(blind=True)
    other.page_size = 5
    # Then each row shows its outputs on the same sides every time
    assert again == first_page == sides(other)
    # And the sides are not the same for every row (here for an id fixed, so that the test is not by chance)
    assert {tuple(side_order("01J0000000000000000000FIXED", row, 2)) for row in range(12)} == {(0, 1), (1, 0)}
    # And the order is the one drawn from the experiment id and the row index
    variants_in_order = [SHORT, LONG]
    for row_index, outputs in first_page.items():
        order = side_order(capitals.id, row_index, 2)
        expected = [variants_in_order[position] for position in order]
        assert [LONG if output.startswith("The") else SHORT for output in outputs] == expected


def test_a_pick_is_stored_as_a_preference_shown_on_its_row_and_read_by_pairwise(lab, capitals):
    # Given a blind widget
    widget = capitals.widget(blind=True)
    # When the person calls row 0 a tie and picks the long answer of every other row, whatever its side
    for row in widget.view["rows"]:
        pair, left_is_long = row["pair"], row["cells"][0]["output"].startswith("The")
        preferred = None if row["row_index"] == 0 else pair["left_run_id" if left_is_long else "right_run_id"]
        widget._handle_pick_message(widget, {"kind": "prefer", **pair, "preferred_run_id": preferred}, [])
    # Then the picks are in the preference table with the sides as shown
    stored = lab.experiment(capitals.name).preferences.sort_values("row_index")
    assert stored["preferred_variant"].tolist() == [None] + [LONG] * 11
    shown_left = [LONG if row["cells"][0]["output"].startswith("The") else SHORT for row in widget.view["rows"]]
    assert stored["left_variant"].tolist() == shown_left
    # And each row shows its pick, on the side it was shown, with no message
    left_is_long = [row["cells"][0]["output"].startswith("The") for row in widget.view["rows"]]
    assert [pair_of(widget, index)["picked"] for index in range(12)] == ["tie"] + [
        "left" if long_left else "right" for long_left in left_is_long[1:]
    ]
    assert widget.message == ""
    # And exp.pairwise without a judge counts the picks: 11 wins and a tie over 12 rows
    win_rate = capitals.pairwise(LONG, SHORT)
    assert (win_rate.n, win_rate.wins_a, win_rate.wins_b, win_rate.ties) == (12, 11, 0, 1)
    assert win_rate.win_rate == pytest.approx(11.5 / 12)


def test_a_pick_between_runs_that_cannot_be_compared_says_why_and_stores_nothing(lab, capitals):
    # Given a blind widget and the runs of two different rows
    widget = capitals.widget(blind=True)
    left = widget.view["rows"][0]["pair"]["left_run_id"]
    right = widget.view["rows"][1]["pair"]["right_run_id"]
    # When such a pick arrives from the view
    widget._handle_pick_message(
        widget, {"kind": "prefer", "left_run_id": left, "right_run_id": right, "preferred_run_id": left}, []
    )
    # Then the widget says why and nothing is stored
    assert "same data row" in widget.message
    assert lab.experiment(capitals.name).preferences.empty


def test_ratings_still_work_blind_and_going_back_shows_the_names_again(lab, capitals):
    # Given a blind widget
    widget = capitals.widget(blind=True)
    run_id = widget.view["rows"][0]["cells"][0]["run_id"]
    # When the person gives the first output of row 0 a thumbs up
    widget._handle_view_message(widget, {"kind": "rate", "run_id": run_id, "value": 1, "note": "clear"}, [])
    # Then the rating is stored and shown on that cell, still without names
    runs = lab.experiment(capitals.name).runs
    assert runs.set_index("run_id").loc[run_id, ["rating", "rating_note"]].tolist() == [1, "clear"]
    assert widget.view["rows"][0]["cells"][0]["rating"] == 1
    assert SHORT not in sent_to_view(widget)
    # When blind is switched off
    widget.blind = False
    # Then the variant names, summary and chart come back
    assert widget.variants == [SHORT, LONG]
    assert [variant["variant"] for variant in widget.summary] == [SHORT, LONG]
    assert widget.chart and all(name in widget.keys for name in MASKED_TRAITS)


def test_with_three_variants_a_row_asks_about_its_first_two_outputs_and_every_pair_comes_up(lab, capitals):
    # Given an experiment of three variants, seen blind
    pl.mock_model("odd", "no idea")
    three = lab.compare(["capital"], QUESTIONS, models=["mock:short", "mock:long", "mock:odd"], progress=False)
    widget = three.widget(blind=True)
    # Then the headers name no variant, and each row's pair is its first two outputs shown
    assert widget.variants == ["output A", "output B", "output C"]
    by_run = three.runs.set_index("run_id")["variant"]
    asked = set()
    for row in widget.view["rows"]:
        pair = row["pair"]
        assert [pair["left_run_id"], pair["right_run_id"]] == [cell["run_id"] for cell in row["cells"][:2]]
        asked.add(frozenset((by_run[pair["left_run_id"]], by_run[pair["right_run_id"]])))
    # And over the 12 rows, every pair of variants is asked about
    assert asked == {frozenset((SHORT, LONG)), frozenset((SHORT, ODD)), frozenset((LONG, ODD))}
