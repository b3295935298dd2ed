"""The comparison widget in a real JupyterLab and Chromium: a notebook runs a comparison with mock
models, the grid shows the outputs as text, and a click on a thumb reaches the store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import promptlab_nb as pl
from tests.browser_support import LabServer, chromium_missing_reason, chromium_page, running_jupyter_lab, write_notebook

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
KERNEL_SECONDS = 120
STORE_SECONDS = 30
IMAGE_ATTACK = '<img src=x onerror="window.pwned = 1">'
SCRIPT_ATTACK = "<script>window.pwned = 2</script>"

NOTEBOOK_CELLS = [
    """\
import pandas as pd
import promptlab_nb as pl

lab = pl.Lab("duckdb:///{store}")
pl.mock_model("strong", {{"france": "Paris", "japan": "Tokyo", "*": {script!r}}})
pl.mock_model("weak", {{"france": "Paris", "japan": "Kyoto", "*": {image!r}}})
lab.templates.save("capital", "What is the capital of {{{{ country }}}}?")
countries = pd.DataFrame({{"country": ["France", "Japan", "Atlantis"], "expected": ["Paris", "Tokyo", "Poseidonia"]}})
exp = lab.compare(["capital"], countries, models=["mock:strong", "mock:weak"],
                  evaluators=["equals:expected"], name="browser", progress=False)
exp""",
    """\
pl.mock_model("slow", "Lima", latency=0.2)
live = lab.compare(["capital"], countries, models=["mock:slow"], name="live", progress=False, live=True)""",
]


@pytest.fixture(params=["jupyterlab", "notebook"], ids=["JupyterLab 4", "Notebook 7"])
def widget_lab_server(request, tmp_path) -> Iterator[LabServer]:
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    pytest.importorskip(request.param, reason=f"{request.param} is not installed")
    root = tmp_path / "root"
    root.mkdir()
    with running_jupyter_lab(root, tmp_path / "jupyter-home", request.param) as server:
        yield server


def store_url(server: LabServer) -> str:
    return f"duckdb:///{server.root / 'store.duckdb'}"


def stored_rating(server: LabServer, output: str) -> tuple[float | None, str | None]:
    lab = pl.Lab(store_url(server))
    try:
        runs = lab.experiment("browser").runs
    finally:
        lab.close()
    if "rating" not in runs.columns:
        return None, None
    run = runs[runs["output"] == output].iloc[0]
    return run["rating"], run["rating_note"]


def wait_for_rating(server: LabServer, output: str) -> tuple[float | None, str | None]:
    deadline = time.monotonic() + STORE_SECONDS
    rating = stored_rating(server, output)
    while rating[0] != 1 and time.monotonic() < deadline:
        time.sleep(0.5)
        rating = stored_rating(server, output)
    return rating


def run_all_cells(page) -> None:
    page.wait_for_function(
        "() => window.jupyterapp && document.querySelector('.jp-Notebook')", timeout=KERNEL_SECONDS * 1000
    )
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
        timeout=KERNEL_SECONDS * 1000,
    )
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


def grid_texts(widget) -> list[str]:
    return widget.locator(".pl-cell .pl-output").all_inner_texts()


def beyond_loopback(urls: list[str]) -> list[str]:
    """Network requests to any host but 127.0.0.1 (blob: and data: URLs stay in the page)."""
    return [
        url
        for url in urls
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).hostname != "127.0.0.1"
    ]


def grid_scrolls_by_itself(widget) -> bool:
    return widget.locator(".pl-grid-box").evaluate(
        "box => getComputedStyle(box).maxHeight !== 'none' || box.scrollHeight > box.clientHeight"
    )


def search_for(widget, text: str) -> None:
    widget.locator(".pl-search").fill(text)
    expected = "rows 1–1 of 1 (filtered from 3)" if text else "rows 1–3 of 3"
    widget.locator(".pl-page", has_text=expected).wait_for()


def test_comparison_widget_renders_in_jupyterlab_and_stores_a_rating(widget_lab_server, tmp_path):
    # Given a notebook that compares two mock models, one answering with HTML
    server = widget_lab_server
    source = NOTEBOOK_CELLS[0].format(store=server.root / "store.duckdb", script=SCRIPT_ATTACK, image=IMAGE_ATTACK)
    write_notebook(server.root / "compare.ipynb", [source, NOTEBOOK_CELLS[1]])
    with chromium_page(tmp_path / "chromium-profile") as page:
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        # When the user opens it in JupyterLab and runs it
        page.goto(server.notebook_url("compare.ipynb"))
        run_all_cells(page)
        page.wait_for_selector(".promptlab-widget .pl-cell[data-run-id]", timeout=KERNEL_SECONDS * 1000)
        # Then the grid shows every output as text, including the HTML ones, and runs none of it
        compared = page.locator(".promptlab-widget").first
        outputs = grid_texts(compared)
        assert outputs == ["Paris", "Paris", "Tokyo", "Kyoto", SCRIPT_ATTACK, IMAGE_ATTACK]
        assert page.evaluate("() => window.pwned ?? null") is None
        assert page.locator(".promptlab-widget .pl-summary td", has_text="capital@1 | mock:weak").count() == 1
        # And the grid has no scroll box of its own: the notebook's scroll is the only one
        assert grid_scrolls_by_itself(compared) is False
        assert compared.locator(".pl-page").inner_text() == "page 1 of 1 · rows 1–3 of 3"
        # When the user writes a note and gives the weak model's Kyoto a thumbs up
        kyoto = page.locator(".promptlab-widget .pl-cell", has_text="Kyoto")
        kyoto.locator(".pl-note").fill("old capital")
        kyoto.locator(".pl-rate-up").click()
        # Then the rating reaches the store and the thumb shows as pressed
        assert wait_for_rating(server, "Kyoto") == (1, "old capital")
        pressed = page.locator(".promptlab-widget .pl-cell", has_text="Kyoto").locator(".pl-rate-up")
        pressed.wait_for(state="attached")
        assert pressed.get_attribute("aria-pressed") == "true"
        # When the user searches, then diffs against the expected column
        search_for(compared, "kyoto")
        assert grid_texts(compared) == ["Tokyo", "Kyoto"]
        search_for(compared, "")
        # When the user keeps rows with run errors, of which there are none, then rows with a failed check
        compared.locator(".pl-errors_only").check()
        # Then the grid says why it is empty, then shows the rows with a ✗
        compared.locator(".pl-empty", has_text="No row of 3 has a run error.").wait_for()
        compared.locator(".pl-errors_only").uncheck()
        compared.locator(".pl-failed-check").select_option(label="failed any check")
        compared.locator(".pl-page", has_text="rows 1–2 of 2 (filtered from 3)").wait_for()
        assert grid_texts(compared) == ["Tokyo", "Kyoto", SCRIPT_ATTACK, IMAGE_ATTACK]
        compared.locator(".pl-failed-check").select_option(label="all checks")
        compared.locator(".pl-baseline").select_option(label="vs input expected")
        kyoto = compared.locator(".pl-cell", has_text="Kyoto")
        kyoto.locator(".pl-added").wait_for()
        # Then the changed words are marked
        assert (kyoto.locator(".pl-removed").inner_text(), kyoto.locator(".pl-added").inner_text()) == (
            "Tokyo",
            "Kyoto",
        )
        # And the live comparison in the next cell filled its own grid while it ran
        live = page.locator(".promptlab-widget").nth(1)
        live.locator(".pl-title", has_text="completed").wait_for(timeout=KERNEL_SECONDS * 1000)
        assert grid_texts(live) == ["Lima", "Lima", "Lima"]
        # And nothing was fetched from beyond the loopback server (no CDN)
        assert beyond_loopback(requested) == []
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"comparison-widget-{server.frontend}.png"), full_page=True)
