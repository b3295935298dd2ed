"""Blind rating and the "vs baseline" view of the comparison widget in a real JupyterLab and Chromium: with
blind on, no variant name is anywhere in the widget's text or attributes and a pick reaches the store's
``preference`` table; the baseline view lists the changed verdict first with both outputs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

import promptlab_nb as pl
from tests.browser_support import LabServer, chromium_missing_reason, chromium_page, running_jupyter_lab, write_notebook
from tests.test_browser_widget import ARTIFACTS, KERNEL_SECONDS, STORE_SECONDS, run_all_cells

STRONG, WEAK = "capital@1 | mock:strong", "capital@1 | mock:weak"
NAMES = (STRONG, WEAK, "mock:strong", "mock:weak", "mock:", "@1")
COMPARE = """\
import pandas as pd
import promptlab_nb as pl

lab = pl.Lab("duckdb:///{store}")
pl.mock_model("strong", {{"france": "Paris", "japan": "Tokyo", "peru": "Lima"}})
pl.mock_model("weak", {{"france": "Paris", "japan": "Kyoto", "peru": "Lima is the capital"}})
lab.templates.save("capital", "What is the capital of {{{{ country }}}}?")
countries = pd.DataFrame({{"country": ["France", "Japan", "Peru"], "expected": ["Paris", "Tokyo", "Lima"]}})
exp = lab.compare(["capital"], countries, models=["mock:strong", "mock:weak"],
                  evaluators=["equals:expected"], name="blind", progress=False)
exp.widget()"""
BASELINE = """\
lab.run("capital", countries, model="mock:strong", evaluators=["equals:expected"], name="before", progress=False)
after = lab.run("capital", countries, model="mock:weak", evaluators=["equals:expected"], name="after", progress=False)
after.widget(baseline="before")"""
EVERY_TEXT_AND_ATTRIBUTE = """widget => [widget.textContent,
  ...[...widget.querySelectorAll("*")].flatMap(node => [...node.attributes].map(attribute => attribute.value)),
  ...[...widget.querySelectorAll("input, select")].map(field => field.value)].join("\\n")"""


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


def stored_preferences(server: LabServer):
    lab = pl.Lab(f"duckdb:///{server.root / 'store.duckdb'}")
    try:
        return lab.experiment("blind").preferences
    finally:
        lab.close()


def wait_for_preferences(server: LabServer):
    deadline = time.monotonic() + STORE_SECONDS
    preferences = stored_preferences(server)
    while preferences.empty and time.monotonic() < deadline:
        time.sleep(0.5)
        preferences = stored_preferences(server)
    return preferences


def variant_names_in(widget) -> list[str]:
    shown = widget.evaluate(EVERY_TEXT_AND_ATTRIBUTE)
    return [name for name in NAMES if name in shown]


def test_blind_mode_names_no_variant_and_stores_a_pick_and_the_baseline_view_lists_the_regression(lab_server, tmp_path):
    # Given a notebook with the widget of a comparison, and one opened against a baseline experiment
    store = lab_server.root / "store.duckdb"
    write_notebook(lab_server.root / "blind.ipynb", [COMPARE.format(store=store), BASELINE])
    with chromium_page(tmp_path / "chromium-profile") as page:
        page.goto(lab_server.notebook_url("blind.ipynb"))
        run_all_cells(page)
        page.wait_for_selector(".promptlab-widget .pl-verdict-row", timeout=KERNEL_SECONDS * 1000)
        widget = page.locator(".promptlab-widget").first
        assert variant_names_in(widget)

        # When the user switches blind on
        widget.locator(".pl-blind").check()
        widget.locator("th", has_text="output A").wait_for()

        # Then no variant name is in the widget's text, tooltips, options or attributes
        assert variant_names_in(widget) == []
        assert widget.locator(".pl-bar-label").count() == 0
        # When the user says the left answer about Japan is the better one
        japan = widget.locator("tr", has_text="Japan")
        left_output = japan.locator(".pl-cell .pl-output").first.inner_text()
        japan.locator(".pl-prefer-left").click()

        # Then the pick is stored in the preference table with the sides as shown, and shows as pressed
        preferences = wait_for_preferences(lab_server)
        left_variant = STRONG if left_output == "Tokyo" else WEAK
        assert preferences[["row_index", "left_variant", "preferred_variant"]].to_dict("records") == [
            {"row_index": 1, "left_variant": left_variant, "preferred_variant": left_variant}
        ]
        pressed = widget.locator("tr", has_text="Japan").locator(".pl-prefer-left[aria-pressed='true']")
        pressed.wait_for()
        assert variant_names_in(widget) == []
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "comparison-widget-blind.png"), full_page=True)

        # And the widget opened against the baseline lists the regressed row first, both outputs side by side
        versus = page.locator(".promptlab-widget").nth(1)
        caption = versus.locator(".pl-baseline-caption").inner_text()
        assert caption == "vs baseline before: 2 regressed, 0 improved, 1 unchanged"
        first = versus.locator(".pl-verdict-row").first
        assert "pl-regressed" in first.get_attribute("class")
        baseline_output, output = first.locator(".pl-was"), first.locator(".pl-now")
        assert baseline_output.inner_text() == "Tokyo"
        assert (output.locator(".pl-removed").inner_text(), output.locator(".pl-added").inner_text()) == (
            "Tokyo",
            "Kyoto",
        )
        assert first.locator(".pl-verdict-change").inner_text().splitlines() == ["regressed", "pass → fail"]
        assert versus.locator(".pl-grid-mode").is_hidden()
        # When the user leaves the baseline view
        versus.locator(".pl-show_baseline").uncheck()
        # Then the grid of the experiment is back
        versus.locator(".pl-grid-mode .pl-cell[data-run-id]").first.wait_for()
        assert versus.locator(".pl-baseline-box").is_hidden()
