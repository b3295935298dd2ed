"""The comparison widget's summary chart, repeats and word diffs in a real JupyterLab and Chromium: bars
named after their variants, a visible bar at 0, every evaluator, a layout that fits a narrow notebook,
cells that step through their repeats, and diffs that read as removed-then-added phrases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser_support import LabServer, chromium_missing_reason, chromium_page, running_jupyter_lab, write_notebook
from tests.test_browser_widget import KERNEL_SECONDS, run_all_cells

RIGHT, FLAKY, WRONG = "capital@1 | mock:right", "capital@1 | mock:flaky", "capital@1 | mock:wrong"
NARROW_VIEWPORT = {"width": 900, "height": 1000}
NOTEBOOK = """\
import itertools
import pandas as pd
import promptlab_nb as pl

lab = pl.Lab("duckdb:///{store}")
pl.mock_model("right", {{"france": "Paris", "japan": "Tokyo"}})
france = itertools.cycle(["Paris", "Lyon"])
pl.mock_model("flaky", lambda messages: next(france) if "France" in messages[-1]["content"] else "Tokyo")
pl.mock_model("wrong", "no idea")
lab.templates.save("capital", "What is the capital of {{{{ country }}}}?")
countries = pd.DataFrame({{"country": ["France", "Japan"], "expected": ["Paris", "Tokyo"]}})
exp = lab.compare(["capital"], countries, models=["mock:right", "mock:flaky", "mock:wrong"], repeats=2,
                  evaluators=["equals:expected", pl.evals.contains("i")], name="repeats", progress=False)
exp"""


@pytest.fixture
def lab_server(tmp_path) -> Iterator[LabServer]:
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed")
    root = tmp_path / "root"
    root.mkdir()
    with running_jupyter_lab(root, tmp_path / "jupyter-home", "jupyterlab") as server:
        yield server


@pytest.fixture
def widget(lab_server, tmp_path):
    """The widget of an experiment of three variants, two evaluators and two repeats, in a narrow notebook."""
    write_notebook(lab_server.root / "repeats.ipynb", [NOTEBOOK.format(store=lab_server.root / "store.duckdb")])
    with chromium_page(tmp_path / "chromium-profile") as page:
        page.set_viewport_size(NARROW_VIEWPORT)
        page.goto(lab_server.notebook_url("repeats.ipynb"))
        run_all_cells(page)
        page.wait_for_selector(".promptlab-widget .pl-bar-label", timeout=KERNEL_SECONDS * 1000)
        yield page.locator(".promptlab-widget").first


def box(locator) -> dict[str, float]:
    return locator.bounding_box()


def test_the_chart_names_its_bars_shows_zero_offers_every_evaluator_and_fits_the_notebook(widget):
    # Given the widget of an experiment where the wrong model never gives the expected answer
    chart = widget.locator(".pl-chart-box")

    # Then the bars are named after their variants and labelled with their means and intervals (Wilson's
    # for a rate whose 2 rows all pass or all fail: 2 / (2 + 1.96²) from the far end)
    assert chart.locator(".pl-bar-label").all_inner_texts() == [RIGHT, FLAKY, WRONG]
    values = chart.locator(".pl-bar-value").all_inner_texts()
    assert (values[0], values[2]) == ("1.00 [0.34, 1.00]", "0.00 [0.00, 0.66]")
    # And the wrong model's mean of 0 is a visible mark
    assert box(chart.locator(".pl-bar-zero"))["width"] > 0
    # And the chart and its caption stay within the widget, the caption not cut
    assert box(chart)["x"] + box(chart)["width"] <= box(widget)["x"] + box(widget)["width"] + 1
    assert chart.locator(".pl-caption").evaluate("node => node.scrollWidth <= node.clientWidth")

    # When the user picks the other evaluator
    chart.locator(".pl-chart-evaluator").select_option("contains:i")

    # Then the chart shows its bars for the same variants
    chart = widget.locator(".pl-chart-box")
    assert chart.locator(".pl-chart-evaluator").input_value() == "contains:i"
    assert chart.locator(".pl-bar-label").all_inner_texts() == [RIGHT, FLAKY, WRONG]
    assert chart.locator(".pl-bar-value").all_inner_texts()[2] == "1.00 [0.34, 1.00]"


def test_a_cell_says_how_many_repeats_passed_and_steps_through_them(widget):
    # Given the flaky model's France cell, right once in two repeats
    flaky_france = widget.locator("tr", has_text="France").locator("td.pl-repeated").nth(1)
    assert flaky_france.locator(".pl-pass-count").inner_text() == "1 of 2 pass"
    first = flaky_france.locator(".pl-output").inner_text()

    # When the user steps to the next repeat
    flaky_france.locator(".pl-repeat-next").click()

    # Then the cell shows the other answer, and "show all" lays both repeats out
    flaky_france = widget.locator("tr", has_text="France").locator("td.pl-repeated").nth(1)
    assert flaky_france.locator(".pl-repeat-position").inner_text() == "repeat 2 of 2"
    assert {first, flaky_france.locator(".pl-output").inner_text()} == {"Paris", "Lyon"}
    flaky_france.locator(".pl-repeat-all").click()
    flaky_france = widget.locator("tr", has_text="France").locator("td.pl-repeated").nth(1)
    assert sorted(flaky_france.locator(".pl-repeat .pl-output").all_inner_texts()) == ["Lyon", "Paris"]


def test_a_word_diff_shows_the_removed_word_then_the_added_one_apart(widget):
    # Given the flaky model's France cell with both repeats shown
    widget.locator("tr", has_text="France").locator("td.pl-repeated").nth(1).locator(".pl-repeat-all").click()

    # When the user diffs against the right model
    widget.locator(".pl-baseline").select_option(label=f"vs {RIGHT}")

    # Then the wrong answer shows "Paris" struck out, then "Lyon" added, with a gap between them
    changed = widget.locator(".pl-repeat", has=widget.page.locator("ins.pl-added"))
    removed, added = changed.locator("del.pl-removed"), changed.locator("ins.pl-added")
    assert (removed.inner_text(), added.inner_text()) == ("Paris", "Lyon")
    assert box(added)["x"] > box(removed)["x"] + box(removed)["width"] + 2
