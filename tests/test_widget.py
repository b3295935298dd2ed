"""The comparison widget without a browser: what its state puts on screen for an experiment, and what
filters, sorting, pages, diffs, ratings and a live run do to it."""

from __future__ import annotations

import _thread
from importlib import resources
from typing import Any

import nbformat
import pandas as pd
import pytest
from nbconvert import HTMLExporter

import promptlab_nb as pl
from promptlab_nb.core import errors
from promptlab_nb.notebook import widget as widget_module
from promptlab_nb.notebook.widget import ComparisonWidget
from promptlab_nb.notebook.widget_diff import ADDED, REMOVED, SAME, word_diff

COUNTRIES = pd.DataFrame(
    {
        "country": ["France", "Japan", "Peru", "Atlantis"],
        "expected": ["Paris", "Tokyo", "Lima", "Poseidonia"],
    }
)
SCRIPT = "<script>alert('pwned')</script>"
IMAGE = '<img src=x onerror="alert(1)">'
STRONG = {"france": "Paris", "japan": "Tokyo", "peru": "Lima", "*": SCRIPT}
WEAK = {"france": "Paris", "japan": "Kyoto", "peru": "Lima is the capital", "*": IMAGE}
STRONG_VARIANT, WEAK_VARIANT, FLAKY_VARIANT = (
    "capital@1 | mock:strong",
    "capital@1 | mock:weak",
    "capital@1 | mock:flaky",
)


def refuse_atlantis(messages: list[dict[str, str]]) -> str:
    if "Atlantis" in messages[-1]["content"]:
        raise errors.BadRequest("no such country", provider="mock")
    return "Paris"


@pytest.fixture
def capitals(lab):
    pl.mock_model("strong", STRONG)
    pl.mock_model("weak", WEAK)
    lab.templates.save("capital", "What is the capital of {{ country }}?")
    return lab.compare(
        ["capital"], COUNTRIES, models=["mock:strong", "mock:weak"], evaluators=["equals:expected"], progress=False
    )


@pytest.fixture
def view(capitals) -> ComparisonWidget:
    return capitals.widget()


def cell_of(widget: ComparisonWidget, country: str, variant: str) -> dict[str, Any]:
    row = next(row for row in widget.view["rows"] if dict(row["inputs"])["country"] == country)
    return row["cells"][widget.variants.index(variant)]


def shown_countries(widget: ComparisonWidget) -> list[str]:
    return [dict(row["inputs"])["country"] for row in widget.view["rows"]]


def runs_row(experiment, run_id: str) -> pd.Series:
    runs = experiment.runs
    return runs[runs["run_id"] == run_id].iloc[0]


def test_grid_has_a_row_per_input_and_a_cell_per_variant_with_output_scores_and_costs(view):
    # Given an experiment of two variants over four countries
    # Then the grid shows every country with its inputs, and each variant's output and numbers
    assert view.variants == [STRONG_VARIANT, WEAK_VARIANT]
    assert shown_countries(view) == ["France", "Japan", "Peru", "Atlantis"]
    assert view.view["rows"][0]["inputs"] == [["country", "France"], ["expected", "Paris"]]
    japan = cell_of(view, "Japan", WEAK_VARIANT)
    assert japan["output"] == "Kyoto" and japan["status"] == "ok"
    assert japan["scores"] == {"equals:expected": 0.0}
    assert "Tokyo" in japan["reasons"]["equals:expected"]
    assert cell_of(view, "Japan", STRONG_VARIANT)["scores"] == {"equals:expected": 1.0}
    assert japan["latency_ms"] is not None and japan["output_tokens"] == 1
    assert japan["cost"] == 0.0 and japan["cache_hit"] is False
    assert view.view["total"] == 4 and view.finished == 8 and view.expected_runs == 8


def test_header_summarises_each_variant_with_its_interval_cost_and_latency(capitals, view):
    summary = {entry["variant"]: entry for entry in view.summary}
    expected = capitals.summary()
    strong = summary[STRONG_VARIANT]
    assert strong["runs"] == 4 and strong["cost"] == 0.0
    score = strong["scores"][0]
    assert score["name"] == "equals:expected"
    assert score["mean"] == pytest.approx(expected.loc[STRONG_VARIANT, "equals:expected"])
    assert (score["low"], score["high"]) == pytest.approx(
        (
            expected.loc[STRONG_VARIANT, "equals:expected ci_low"],
            expected.loc[STRONG_VARIANT, "equals:expected ci_high"],
        )
    )
    assert score["verdict"] == "best"


def test_failed_runs_show_their_error_and_the_errors_filter_keeps_only_their_rows(lab, capitals):
    # Given a third variant that fails on one row
    pl.mock_model("flaky", refuse_atlantis)
    experiment = lab.compare(["capital"], COUNTRIES, models=["mock:strong", "mock:flaky"], progress=False)
    widget = experiment.widget()
    # When the user keeps rows with a run error only
    widget.errors_only = True
    # Then only Atlantis is left, with the provider's error in its cell
    assert shown_countries(widget) == ["Atlantis"]
    failed = cell_of(widget, "Atlantis", FLAKY_VARIANT)
    assert failed["status"] == "error" and "no such country" in failed["error"]


def test_the_failed_checks_filter_keeps_rows_with_a_red_badge_not_rows_with_a_run_error(lab, capitals):
    # Given a variant that answers Paris everywhere but fails to run on Atlantis, scored against the expected capital
    pl.mock_model("flaky", refuse_atlantis)
    experiment = lab.compare(
        ["capital"], COUNTRIES, models=["mock:strong", "mock:flaky"], evaluators=["equals:expected"], progress=False
    )
    widget = experiment.widget()
    # When the user keeps rows where any check failed
    assert [option["label"] for option in widget.check_options] == [
        "all checks",
        "failed any check",
        "failed equals:expected",
    ]
    widget.failed_check = "*"
    # Then the rows with a ✗ are shown: Japan and Peru (flaky said Paris) and Atlantis (strong answered HTML)
    assert shown_countries(widget) == ["Japan", "Peru", "Atlantis"]
    # When the user chooses the evaluator by name and keeps only run errors as well
    widget.failed_check = "equals:expected"
    widget.errors_only = True
    # Then Atlantis is the one row with both
    assert shown_countries(widget) == ["Atlantis"]


def test_the_failed_checks_filter_of_an_experiment_without_run_errors_shows_the_failing_rows(view):
    # Given the weak variant fails its check on three countries and no run failed to run
    # When the user filters failed checks of the evaluator
    view.failed_check = "equals:expected"
    # Then those rows are shown, not an empty grid
    assert shown_countries(view) == ["Japan", "Peru", "Atlantis"]
    assert view.view["matching"] == 3 and view.view["empty_reason"] == ""


def test_an_empty_result_says_which_filters_left_no_row(view):
    # Given an experiment where every run ran
    # When the user keeps rows with a run error that contain "Kyoto"
    view.errors_only = True
    view.search = "Kyoto"
    # Then no row is shown and the view says why
    assert view.view["rows"] == [] and view.view["matching"] == 0
    assert view.view["empty_reason"] == "No row of 4 has a run error and contains 'Kyoto'."


def test_disagreement_filter_keeps_rows_where_scores_differ(view):
    view.disagree_only = True
    assert shown_countries(view) == ["Japan", "Peru"]


def test_disagreement_without_evaluators_compares_outputs_ignoring_case_and_spacing(lab):
    pl.mock_model("upper", {"france": "PARIS ", "*": "Lima"})
    pl.mock_model("lower", {"france": "paris", "*": "Cuzco"})
    lab.templates.save("capital", "What is the capital of {{ country }}?")
    experiment = lab.compare(["capital"], COUNTRIES.head(3), models=["mock:upper", "mock:lower"], progress=False)
    widget = experiment.widget()
    widget.disagree_only = True
    assert shown_countries(widget) == ["Japan", "Peru"]


def test_search_finds_rows_by_input_or_output_text(view):
    view.search = "kyoto"
    assert shown_countries(view) == ["Japan"]
    view.search = "ATLANT"
    assert shown_countries(view) == ["Atlantis"]
    view.search = ""
    assert len(shown_countries(view)) == 4


def test_sorting_by_a_variant_score_orders_rows_by_that_score(view):
    # Given the sort options the header offers
    keys = {option["label"]: option["key"] for option in view.sort_options}
    # When the user sorts by the weak variant's score, lowest first
    view.sort_by = keys[f"equals:expected of {WEAK_VARIANT}"]
    view.descending = False
    # Then its failing rows come first (in row order), then France, which passed
    assert shown_countries(view) == ["Japan", "Peru", "Atlantis", "France"]
    # When the user sorts by the strong variant's score, lowest first
    view.sort_by = keys[f"equals:expected of {STRONG_VARIANT}"]
    assert shown_countries(view) == ["Atlantis", "France", "Japan", "Peru"]


def test_pages_cut_the_rows_and_a_filter_change_returns_to_the_first_page(view):
    # Given two rows a page
    view.page_size = 2
    assert shown_countries(view) == ["France", "Japan"] and view.view["page_count"] == 2
    # When the user turns the page, then past the end
    view.page = 1
    assert shown_countries(view) == ["Peru", "Atlantis"]
    view.page = 7
    assert view.view["page"] == 1
    # When a filter changes, the grid goes back to the first page
    view.search = "a"
    assert view.page == 0 and view.view["page"] == 0


def test_the_grid_pages_by_the_display_rows_setting_and_the_pager_counts_the_rows_shown(lab, capitals):
    # Given tables set to show three rows
    lab.settings.display_rows = 3
    # When the widget opens
    widget = capitals.widget()
    # Then it shows rows 1 to 3 of 4, then row 4 on the second page
    assert widget.page_size == 3 and shown_countries(widget) == ["France", "Japan", "Peru"]
    assert (widget.view["first"], widget.view["last"], widget.view["matching"]) == (1, 3, 4)
    widget.page = 1
    assert shown_countries(widget) == ["Atlantis"]
    assert (widget.view["first"], widget.view["last"]) == (4, 4)


def test_row_order_is_ascending_by_default_and_descending_reverses_it(view):
    # Given the grid in row order
    assert view.sort_by == "row" and view.descending is False
    assert shown_countries(view) == ["France", "Japan", "Peru", "Atlantis"]
    # When the user ticks descending
    view.descending = True
    # Then the last data row comes first
    assert shown_countries(view) == ["Atlantis", "Peru", "Japan", "France"]


def test_a_one_variant_experiment_offers_no_diff_against_itself_and_no_disagreement(lab):
    # Given an experiment of one variant
    pl.mock_model("strong", STRONG)
    lab.templates.save("capital", "What is the capital of {{ country }}?")
    widget = lab.compare(["capital"], COUNTRIES, models=["mock:strong"], progress=False).widget()
    # Then it can be diffed against its inputs only
    assert [option["label"] for option in widget.baseline_options] == [
        "no diff",
        "vs input country",
        "vs input expected",
    ]
    # And asking for rows where variants disagree hides nothing
    widget.disagree_only = True
    assert shown_countries(widget) == ["France", "Japan", "Peru", "Atlantis"]


def test_a_failed_pipeline_run_shows_the_step_that_failed_and_what_the_model_answered(lab):
    # Given a pipeline whose first step must answer JSON, and a model that does not
    pl.mock_model("facts", "not json at all")
    lab.templates.save("extract_facts", "Extract facts from: {{ text }}", model="mock:facts")
    lab.templates.save("write_summary", "Summarize {{ facts }}", model="mock:echo")
    lab.pipelines.save(
        "digest",
        [{"template": "extract_facts", "output": "facts", "parse": "json"}, {"template": "write_summary"}],
    )
    # When it runs and the widget shows it
    widget = lab.run("digest", [{"text": "Paris is the capital of France."}], progress=False).widget()
    # Then the cell says which step failed, why, and what the model answered there
    [cell] = widget.view["rows"][0]["cells"]
    assert cell["status"] == "error" and cell["failed_step"] == "facts"
    assert "not valid JSON" in cell["error"]
    assert cell["failed_output"] == "not json at all"


def answer_paris_then_interrupt_on_france(messages: list[dict[str, str]]) -> str:
    if "France" in messages[-1]["content"]:
        _thread.interrupt_main()
    return "Paris"


def test_a_cancelled_run_shows_as_cancelled_and_is_neither_an_error_nor_a_zero_in_the_header(lab):
    # Given three countries at two at a time, and a kernel interrupt when France is answered
    pl.mock_model("halting", answer_paris_then_interrupt_on_france, latency=0.3)
    lab.templates.save("capital", "What is the capital of {{ country }}?")
    experiment = lab.compare(
        ["capital"],
        COUNTRIES.head(3),
        models=["mock:halting"],
        concurrency=2,
        evaluators=["contains:Paris"],
        progress=False,
    )
    # When the widget shows it
    widget = experiment.widget()
    # Then Peru, still waiting for its answer, is cancelled
    assert cell_of(widget, "Peru", widget.variants[0])["status"] == "cancelled"
    # And the header counts it as cancelled: no errors, both answers pass
    [summary] = widget.summary
    assert (summary["runs"], summary["cancelled_runs"], summary["error_rate"]) == (2, 1, 0.0)
    assert summary["scores"][0]["mean"] == 1.0
    assert "1 cancelled" in widget.title
    # And a run error filter does not pick it up
    widget.errors_only = True
    assert shown_countries(widget) == []


def test_the_header_cost_counts_the_answers_and_a_run_error_does_not_make_it_unknown(lab, capitals):
    # Given a variant that failed to run on one row: its other cells show $0.0000
    pl.mock_model("flaky", refuse_atlantis)
    widget = lab.compare(["capital"], COUNTRIES, models=["mock:strong", "mock:flaky"], progress=False).widget()
    assert cell_of(widget, "France", FLAKY_VARIANT)["cost"] == 0.0
    # Then its header cost is the same known $0, with no run of unknown price
    flaky = next(entry for entry in widget.summary if entry["variant"] == FLAKY_VARIANT)
    assert (flaky["cost"], flaky["unpriced"]) == (0.0, 0)


def test_diff_against_a_baseline_variant_marks_the_words_that_changed(view):
    # When the user diffs against the strong variant
    keys = {option["label"]: option["key"] for option in view.baseline_options}
    view.baseline = keys[f"vs {STRONG_VARIANT}"]
    # Then the weak variant's Peru output shows the added words; the baseline itself has no diff
    assert cell_of(view, "Peru", WEAK_VARIANT)["diff"] == [[SAME, "Lima"], [ADDED, " is the capital"]]
    assert cell_of(view, "Japan", WEAK_VARIANT)["diff"] == [[REMOVED, "Tokyo"], [ADDED, "Kyoto"]]
    assert cell_of(view, "Peru", STRONG_VARIANT)["diff"] is None


def test_diff_against_the_expected_column(view):
    keys = {option["label"]: option["key"] for option in view.baseline_options}
    view.baseline = keys["vs input expected"]
    assert cell_of(view, "France", STRONG_VARIANT)["diff"] == [[SAME, "Paris"]]
    assert cell_of(view, "Japan", WEAK_VARIANT)["diff"] == [[REMOVED, "Tokyo"], [ADDED, "Kyoto"]]


@pytest.mark.parametrize(
    ("baseline", "output"),
    [
        ("The capital is Paris.", "Paris is the capital, I think."),
        ("", "new text"),
        ("old  text\n", ""),
        ("a b", "a b"),
    ],
)
def test_word_diff_segments_rebuild_both_texts(baseline, output):
    segments = word_diff(baseline, output)
    assert "".join(text for kind, text in segments if kind != REMOVED) == output
    assert "".join(text for kind, text in segments if kind != ADDED) == baseline


def test_rating_a_cell_stores_it_and_shows_it_in_runs_and_in_the_cell(capitals, view):
    # Given the weak variant's Japan cell
    run_id = cell_of(view, "Japan", WEAK_VARIANT)["run_id"]
    # When the user gives it a thumbs down with a note, as the view's click sends it
    view._handle_view_message(
        view, {"kind": "rate", "run_id": run_id, "value": -1, "note": "Kyoto was the old one"}, []
    )
    # Then the rating is stored, visible in exp.runs, and shown in the cell
    stored = runs_row(capitals, run_id)
    assert stored["rating"] == -1 and stored["rating_note"] == "Kyoto was the old one"
    cell = cell_of(view, "Japan", WEAK_VARIANT)
    assert cell["rating"] == -1 and cell["rating_note"] == "Kyoto was the old one"
    # When the user clicks the same thumb again, the rating is cleared
    view.rate(run_id, 0)
    assert cell_of(view, "Japan", WEAK_VARIANT)["rating"] is None
    assert runs_row(capitals, run_id)["rating"] == 0


def test_a_refreshed_widget_shows_earlier_ratings(capitals, view):
    run_id = cell_of(view, "France", STRONG_VARIANT)["run_id"]
    capitals.rate(run_id, 1, "exact")
    reopened = capitals.widget()
    assert cell_of(reopened, "France", STRONG_VARIANT)["rating"] == 1
    assert cell_of(reopened, "France", STRONG_VARIANT)["rating_note"] == "exact"


def test_rating_an_unknown_run_shows_one_line_and_changes_nothing(capitals, view):
    view.rate("no-such-run", 1)
    assert "no-such-run" in view.message
    assert "rating" not in capitals.runs.columns


def test_live_widget_shows_pending_cells_then_fills_in_as_runs_finish(lab, monkeypatch):
    # Given a kernel that can show widgets, and what it displays
    displayed: list[Any] = []
    monkeypatch.setattr(widget_module, "kernel_has_widgets", lambda: True)
    monkeypatch.setattr("IPython.display.display", displayed.append)
    pl.mock_model("strong", STRONG)
    pl.mock_model("weak", WEAK)
    lab.templates.save("capital", "What is the capital of {{ country }}?")
    seen_while_running: list[int] = []
    original_add_run = ComparisonWidget.add_run

    def add_run_and_count(widget: ComparisonWidget, record: dict[str, Any]) -> None:
        original_add_run(widget, record)
        seen_while_running.append(widget.state.finished)

    monkeypatch.setattr(ComparisonWidget, "add_run", add_run_and_count)
    # When the user runs a comparison live
    experiment = lab.compare(
        ["capital"],
        COUNTRIES,
        models=["mock:strong", "mock:weak"],
        evaluators=["equals:expected"],
        progress=False,
        live=True,
    )
    # Then one widget was shown at the start, filled cell by cell, and ends with the scores
    [widget] = displayed
    assert seen_while_running == list(range(1, 9))
    assert shown_countries(widget) == ["France", "Japan", "Peru", "Atlantis"]
    assert cell_of(widget, "France", STRONG_VARIANT)["scores"] == {"equals:expected": 1.0}
    assert widget.summary and widget.title.startswith(f"experiment {experiment.name}")


def test_live_start_shows_every_row_pending(lab):
    pl.mock_model("strong", STRONG)
    lab.templates.save("capital", "What is the capital of {{ country }}?")
    experiment = lab.plan(["capital"], COUNTRIES, models=["mock:strong", "mock:weak"])
    widget = ComparisonWidget()
    widget.follow(experiment)
    assert shown_countries(widget) == ["France", "Japan", "Peru", "Atlantis"]
    assert all(cell is None for row in widget.view["rows"] for cell in row["cells"])
    assert widget.finished == 0 and widget.expected_runs == 8


def test_model_output_with_html_stays_text_in_widget_state_and_is_escaped_in_the_static_view(capitals, view):
    assert cell_of(view, "Atlantis", STRONG_VARIANT)["output"] == SCRIPT
    assert cell_of(view, "Atlantis", WEAK_VARIANT)["output"] == IMAGE
    static = capitals._repr_html_()
    assert "<script>" not in static and "<img" not in static
    assert "&lt;script&gt;" in static and "&lt;img src=x onerror=" in static


def test_the_view_never_parses_strings_as_html():
    script = resources.files("promptlab_nb.notebook").joinpath("widget_static", "comparison.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script


def test_display_outside_a_kernel_is_the_static_table(capitals):
    bundle, _ = capitals._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert "promptlab-experiment" in bundle["text/html"]


def test_display_in_a_widget_kernel_is_the_widget_with_the_static_table_as_fallback(capitals, monkeypatch):
    monkeypatch.setattr(widget_module, "kernel_has_widgets", lambda: True)
    bundle, _ = capitals._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "promptlab-experiment" in bundle["text/html"]


def test_a_saved_notebook_converts_to_the_static_escaped_table(capitals, monkeypatch):
    # Given the widget output as a live kernel stores it, in a notebook saved without widget state
    monkeypatch.setattr(widget_module, "kernel_has_widgets", lambda: True)
    bundle, metadata = capitals._repr_mimebundle_()
    output = nbformat.v4.new_output("execute_result", data=bundle, metadata=metadata, execution_count=1)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("exp", outputs=[output], execution_count=1)])
    # When nbconvert renders it to HTML
    html, _ = HTMLExporter().from_notebook_node(notebook)
    # Then the page shows the static table with the model's HTML escaped
    assert "promptlab-experiment" in html
    assert SCRIPT not in html and IMAGE not in html
    assert "&lt;script&gt;alert(" in html and "&lt;img src=x onerror=" in html
