"""A notebook saved with a displayed experiment, opened without a kernel: nbconvert's HTML carries the
report's view, interactive in Chromium, and the same output stays a readable table once scripts are
stripped (as GitHub's viewer does)."""

from __future__ import annotations

import re

import nbformat
import pandas as pd
import pytest
from nbconvert import HTMLExporter

import promptlab_nb as pl
from promptlab_nb.notebook import widget as widget_module
from tests.browser_support import chromium_missing_reason, chromium_page

COUNTRIES = pd.DataFrame(
    {"country": ["France", "Japan", "Peru"], "expected": ["Paris", "Tokyo", "Lima"]},
)
HOSTILE = '<img src=x onerror="window.pwned = 1">'
SCRIPT_ELEMENT = re.compile(r"<script\b.*?</script>", re.S | re.IGNORECASE)


@pytest.fixture
def saved_notebook(lab, monkeypatch):
    """A notebook whose cell displayed a comparison in a live kernel, saved without widget state."""
    pl.mock_model("strong", {"france": "Paris", "japan": "Tokyo", "peru": "Lima"})
    pl.mock_model("weak", {"france": "Paris", "japan": "Kyoto", "peru": HOSTILE})
    lab.templates.save("capital", "What is the capital of {{ country }}?")
    experiment = lab.compare(
        ["capital"], COUNTRIES, models=["mock:strong", "mock:weak"], evaluators=["equals:expected"], progress=False
    )
    monkeypatch.setattr(widget_module, "kernel_has_widgets", lambda: True)
    bundle, metadata = experiment._repr_mimebundle_()
    output = nbformat.v4.new_output("execute_result", data=bundle, metadata=metadata, execution_count=1)
    cell = nbformat.v4.new_code_cell("exp", outputs=[output], execution_count=1)
    return nbformat.v4.new_notebook(cells=[cell])


def test_nbconvert_html_of_a_saved_comparison_is_the_interactive_report_view(saved_notebook, tmp_path):
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    # Given the notebook converted to HTML by nbconvert
    html, _ = HTMLExporter().from_notebook_node(saved_notebook)
    path = tmp_path / "compare.html"
    path.write_text(html, encoding="utf-8")

    with chromium_page(tmp_path / "chromium-profile") as page:
        page.context.route(
            "**/*", lambda route: route.continue_() if route.request.url.startswith("file://") else route.abort()
        )
        # When a reader opens it, offline
        page.goto(path.as_uri())

        # Then the comparison is interactive: the grid with its pager, searchable, the answers as text
        report = page.locator(".promptlab-widget")
        report.locator(".pl-page", has_text="page 1 of 1 · rows 1–3 of 3").wait_for(timeout=10_000)
        assert page.locator(".pl-report-static").is_hidden()
        report.locator(".pl-search").fill("kyoto")
        report.locator(".pl-page", has_text="rows 1–1 of 1 (filtered from 3)").wait_for(timeout=5_000)
        assert report.locator(".pl-cell .pl-output").all_text_contents() == ["Tokyo", "Kyoto"]
        assert page.evaluate("() => window.pwned ?? null") is None


def test_a_saved_comparison_reads_as_a_static_summary_and_table_where_scripts_are_stripped(saved_notebook):
    # Given a saved notebook with a displayed comparison
    # When it is converted to HTML, then stripped of its scripts as GitHub's viewer does
    html, _ = HTMLExporter().from_notebook_node(saved_notebook)
    stripped = SCRIPT_ELEMENT.sub("", html)

    # Then the summary and the outputs table remain, the model's markup escaped
    assert "<b>summary</b>" in stripped and "<b>outputs: rows 1–3 of 3</b>" in stripped
    assert "capital@1 | mock:weak" in stripped and "Kyoto" in stripped
    assert HOSTILE not in html and "&lt;img src=x onerror=" in stripped
