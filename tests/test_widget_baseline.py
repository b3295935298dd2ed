"""Issue 15 item 3: the comparison widget's "vs baseline" view, without a browser: the experiment against
a baseline experiment, changed verdicts first, both outputs side by side with a word diff."""

from __future__ import annotations

import pytest
from baseline_support import QUESTIONS, careful_then_hasty

from promptlab_nb.notebook.widget_baseline import verdict_page
from promptlab_nb.notebook.widget_diff import ADDED, REMOVED


@pytest.fixture
def hasty(lab):
    return careful_then_hasty(lab)


def changes(view: dict) -> list[str]:
    return [row["change"] for row in view["rows"]]


def test_the_baseline_view_lists_the_regressions_first_with_both_outputs_and_a_diff(hasty):
    # When the user opens the widget of the hasty experiment against the careful one
    widget = hasty.widget(baseline="careful")
    # Then it shows the verdicts against the careful experiment, the six regressions first
    view = widget.baseline_view
    assert (widget.show_baseline, view["baseline"], view["error"]) == (True, "careful", "")
    assert view["counts"] == {"regressed": 6, "improved": 0, "unchanged": 6}
    assert changes(view) == ["regressed"] * 6 + ["unchanged"] * 6
    # And each regression has its inputs, both outputs, both verdicts and the diff between the outputs
    first = view["rows"][0]
    assert first["inputs"] == [["country", "country 0"], ["expected", "capital 0"]]
    assert (first["baseline_output"], first["output"]) == ("capital 0", "no idea")
    assert (first["baseline_passed"], first["passed"]) == (True, False)
    assert (first["variant"], first["baseline_variant"], first["evaluator"]) == (
        "capital@2",
        "capital@1",
        "equals:expected",
    )
    assert [kind for kind, _ in first["diff"]] == [REMOVED, ADDED]


def test_without_a_name_the_baseline_is_the_latest_earlier_experiment_on_the_same_data(lab, hasty):
    # Given an unrelated experiment on other data
    lab.run("capital", QUESTIONS.head(5), evaluators=["equals:expected"], name="other-data", progress=False)
    # When the user opens the view without naming a baseline, as the widget's switch does
    widget = hasty.widget()
    widget.show_baseline = True
    # Then the baseline is the careful experiment
    assert widget.baseline_view["baseline"] == "careful"
    assert widget.baseline_view["counts"]["regressed"] == 6


def test_naming_another_baseline_in_the_box_compares_with_it(lab, hasty):
    # Given the careful experiment against the hasty one, where every changed verdict is an improvement
    careful = lab.experiment("careful")
    widget = careful.widget(baseline="hasty")
    assert widget.baseline_view["counts"] == {"regressed": 0, "improved": 6, "unchanged": 6}
    assert changes(widget.baseline_view)[:6] == ["improved"] * 6
    # When the user types an experiment that does not exist, then itself
    widget.compared_to = "no-such-experiment"
    missing = widget.baseline_view
    widget.compared_to = "careful"
    itself = widget.baseline_view
    # Then each says what is wrong in one line, and nothing is shown
    assert "no-such-experiment" in missing["error"] and "\n" not in missing["error"]
    assert "itself" in itself["error"] and itself["rows"] == []


def test_pages_of_verdicts_stay_in_range():
    # Given 12 verdict rows, the first three regressions
    rows = [
        {
            "row_index": index,
            "inputs": {"country": f"country {index}", "size": index},
            "output": "b",
            "baseline_output": "a",
            "regressed": index < 3,
            "improved": False,
        }
        for index in range(12)
    ]
    # When pages of 5 are asked for, one beyond the last
    first, last, beyond = (verdict_page("base", rows, page, page_size=5) for page in (0, 2, 7))
    # Then the pages hold 5, then the last 2 rows, and a page beyond the last is the last
    assert (first["first"], first["last"], first["page_count"], first["total"]) == (1, 5, 3, 12)
    assert [row["row_index"] for row in last["rows"]] == [10, 11]
    assert beyond == last
    # And the counts cover every row, the inputs are text
    assert first["counts"] == {"regressed": 3, "improved": 0, "unchanged": 9}
    assert first["rows"][0]["inputs"] == [["country", "country 0"], ["size", "0"]]


def test_switching_blind_on_leaves_the_baseline_view_which_names_variants(hasty):
    # Given the baseline view open
    widget = hasty.widget(baseline="careful")
    # When the user switches blind on
    widget.blind = True
    # Then the grid is shown again, blind
    assert widget.show_baseline is False
    assert widget.variants == ["output A"]
