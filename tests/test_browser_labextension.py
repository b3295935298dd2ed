"""The JupyterLab extension in a real browser: highlighting of %%prompt cells and the Prompt Lab sidebar.

Runs Debian's chromium against a `jupyter lab` that the test starts on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import promptlab_nb as pl

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PROMPT_CELL = "%%prompt greet --model mock:echo\nsystem:\nYou are kind.\nuser:\nSay hello to {{ name }}.{# a comment #}"
PYTHON_CELL = 'greeting = "{{ not a template }}"'
PROMPT_CLASSES = ".pl-magic, .pl-role, .pl-jinja-expression, .pl-jinja-statement, .pl-jinja-comment"
SIDEBAR_TAB = ".jp-SideBar .lm-TabBar-tab[data-id='promptlab-sidebar']"
STARTUP_SECONDS = 90
UI_TIMEOUT_MS = 60_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is missing: install Debian's chromium (bash .ci/services does, as root)",
)


@dataclass
class RunningLab:
    url: str
    token: str
    root_dir: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _python_notebook(cells: list[str]) -> dict:
    return {
        "cells": [
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
            for source in cells
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {
                "name": "python",
                "codemirror_mode": {"name": "ipython", "version": 3},
                "mimetype": "text/x-python",
                "file_extension": ".py",
            },
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _wait_until_serving(url: str, token: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}api/status?token={token}", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"jupyter lab did not answer at {url} within {STARTUP_SECONDS} s")


@pytest.fixture
def jupyter_lab(tmp_path) -> Iterator[RunningLab]:
    root_dir, home = tmp_path / "notebooks", tmp_path / "jupyter"
    root_dir.mkdir()
    (root_dir / "lab.ipynb").write_text(json.dumps(_python_notebook(["%load_ext promptlab_nb", "", PYTHON_CELL])))
    token, port = secrets.token_hex(16), _free_port()
    environment = os.environ | {
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
    }
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}",
        "--LabApp.extension_manager=readonly", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]  # fmt: skip
    log = (tmp_path / "jupyter-lab.log").open("wb")
    server = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_serving(url, token, server)
        yield RunningLab(url, token, root_dir)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture
def page(tmp_path):
    """A chromium page; what it shows at the end, also after a failure, is saved under test-artifacts/."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        browser.set_default_timeout(UI_TIMEOUT_MS)
        opened = browser.new_page()
        try:
            yield opened
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            opened.screenshot(path=str(ARTIFACTS / "labextension.png"))
            browser.close()


def highlighted_text(cell, selector: str) -> str:
    """The text under a highlighting class; bracket matching may split it into several spans."""
    return "".join(cell.locator(selector).all_inner_texts())


def run_and_label_as_another_notebook_would(root_dir: Path) -> None:
    lab = pl.Lab(root_dir / "promptlab.duckdb")
    lab.compare(["greet"], [{"name": "Ada"}, {"name": "Grace"}], name="greetings", progress=False)
    lab.templates.label("greet", 1, "production")
    lab.close()


def run_cell(cell, execution_count: int) -> None:
    cell.locator(".cm-content").click()
    cell.page.keyboard.press("Shift+Enter")
    cell.locator(".jp-InputPrompt", has_text=f"[{execution_count}]").wait_for()


COUNT_STORE_READS = """
window.promptlabStoreReads = 0;
const fetchFromTheNetwork = window.fetch;
window.fetch = (request, init) => {
  if (String(request.url ?? request).includes("/promptlab/api/")) window.promptlabStoreReads += 1;
  return fetchFromTheNetwork.call(window, request, init);
};
"""


def store_reads(page) -> int:
    """How many requests the page has sent to the Prompt Lab API (counted as JupyterLab sends them)."""
    return page.evaluate("window.promptlabStoreReads")


def test_prompt_cells_are_highlighted_and_the_sidebar_lists_saved_templates(jupyter_lab, page):
    # Given JupyterLab with a Python notebook that loads the magics, then has an empty cell and a Python cell
    page.add_init_script(COUNT_STORE_READS)
    page.goto(f"{jupyter_lab.url}lab/tree/lab.ipynb?token={jupyter_lab.token}")
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
    cells = notebook.locator(".jp-Cell")
    prompt_cell, python_cell = cells.nth(1), cells.nth(2)
    python_cell.locator(".cm-line span").first.wait_for()
    page.locator(".jp-StatusBar-TextItem", has_text="Python 3 (ipykernel) | Idle").wait_for()
    run_cell(cells.nth(0), 1)

    # When a %%prompt cell is typed
    prompt_cell.locator(".cm-content").click()
    page.keyboard.insert_text(PROMPT_CELL)

    # Then its magic line, role lines and Jinja tags carry the prompt highlighting, and the Python cell does not
    assert prompt_cell.locator(".pl-magic").inner_text() == "%%prompt greet --model mock:echo"
    assert prompt_cell.locator(".pl-role").all_inner_texts() == ["system:", "user:"]
    assert highlighted_text(prompt_cell, ".pl-jinja-expression") == "{{ name }}"
    assert highlighted_text(prompt_cell, ".pl-jinja-comment") == "{# a comment #}"
    assert python_cell.locator(PROMPT_CLASSES).count() == 0

    # When the Prompt Lab sidebar is open and the cell runs
    page.locator(SIDEBAR_TAB).click()
    sidebar = page.locator("#promptlab-sidebar")
    sidebar.locator(".pl-Sidebar-status", has_text="No store at").wait_for()
    assert not (jupyter_lab.root_dir / "promptlab.duckdb").exists(), "looking at the sidebar creates no store"
    run_cell(prompt_cell, 2)

    # Then the magic saved the template and the sidebar lists it with its version, model and variables
    template = sidebar.locator(".pl-Sidebar-templates .pl-Sidebar-entry", has_text="greet")
    template.wait_for()
    assert template.locator(".pl-Sidebar-detail").all_inner_texts() == ["v1 · mock:echo", "name"]

    # When another notebook runs an experiment and labels the template production, and the sidebar is refreshed
    sidebar.locator(".pl-Sidebar-experiments .pl-Sidebar-empty").wait_for()
    run_and_label_as_another_notebook_would(jupyter_lab.root_dir)
    sidebar.locator(".pl-Sidebar-refresh").click()

    # Then the experiment is listed with its size, and the template with the version its label points at
    experiment = sidebar.locator(".pl-Sidebar-experiments .pl-Sidebar-entry", has_text="greetings")
    assert "1 variant × 2 rows" in experiment.locator(".pl-Sidebar-detail").first.inner_text()
    template.locator(".pl-Sidebar-detail", has_text="production → v1").wait_for()
    assert template.locator(".pl-Sidebar-detail").all_inner_texts() == ["v1 · mock:echo", "production → v1", "name"]

    # When the template is clicked with the prompt cell active, and Shift+Enter is pressed at once
    prompt_cell.locator(".cm-content").click()
    template.locator(".pl-Sidebar-open").click()
    inserted = cells.nth(2)
    inserted.locator(".pl-magic").wait_for()
    page.keyboard.press("Shift+Enter")
    inserted.locator(".jp-InputPrompt", has_text="[3]").wait_for()

    # Then the inserted cell ran, once: a highlighted %%prompt cell that saves the same template again, unchanged
    assert notebook.locator(".jp-Cell .pl-magic").count() == 2
    assert inserted.locator(".pl-magic").inner_text() == "%%prompt greet --model mock:echo"
    assert highlighted_text(inserted, ".pl-jinja-expression") == "{{ name }}"
    inserted.locator(".jp-OutputArea-output", has_text="unchanged").wait_for()

    # When the experiment is clicked and the inserted cell is run
    inserted.locator(".cm-content").click()
    experiment.locator(".pl-Sidebar-open").click()
    experiment_cell = cells.nth(3)
    assert experiment_cell.locator(".cm-content").inner_text() == (
        'import promptlab_nb as pl\npl.current_lab().experiment("greetings")'
    )
    run_cell(experiment_cell, 4)

    # Then the experiment is displayed
    experiment_cell.locator(".jp-OutputArea-output", has_text="greetings").wait_for()

    # When the sidebar is closed while cells run, then opened again
    page.locator("#promptlab-sidebar:not(.pl-mod-loading)").wait_for()
    page.locator(SIDEBAR_TAB).click()
    reads_before = store_reads(page)
    run_cell(experiment_cell, 5)
    run_cell(experiment_cell, 6)
    reads_while_hidden = store_reads(page) - reads_before
    with page.expect_response(lambda response: "/promptlab/api/experiments" in response.url):
        page.locator(SIDEBAR_TAB).click()

    # Then the hidden sidebar did not read the store: it reads it when shown
    assert reads_while_hidden == 0
    assert store_reads(page) > reads_before


PIPELINE_CELL = "%%pipeline digest\n- template: greet\n  output: greeting"


def test_the_sidebar_shows_the_store_of_a_notebook_in_a_folder_and_its_pipelines(jupyter_lab, page):
    # Given a notebook in notebooks/, whose kernel writes notebooks/promptlab.duckdb
    folder = jupyter_lab.root_dir / "notebooks"
    folder.mkdir()
    cells_source = ["%load_ext promptlab_nb", PROMPT_CELL, PIPELINE_CELL, ""]
    (folder / "lab.ipynb").write_text(json.dumps(_python_notebook(cells_source)))
    page.goto(f"{jupyter_lab.url}lab/tree/notebooks/lab.ipynb?token={jupyter_lab.token}")
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
    cells = notebook.locator(".jp-Cell")
    page.locator(".jp-StatusBar-TextItem", has_text="Python 3 (ipykernel) | Idle").wait_for()

    # When the sidebar is opened and the notebook saves a template and a pipeline
    page.locator(SIDEBAR_TAB).click()
    sidebar = page.locator("#promptlab-sidebar")
    sidebar.locator(".pl-Sidebar-store", has_text="notebooks/promptlab.duckdb").wait_for()
    for index in range(3):
        run_cell(cells.nth(index), index + 1)

    # Then the sidebar names that store and lists the template and the pipeline; no store appeared in the root
    sidebar.locator(".pl-Sidebar-templates .pl-Sidebar-entry", has_text="greet").wait_for()
    pipeline = sidebar.locator(".pl-Sidebar-pipelines .pl-Sidebar-entry", has_text="digest")
    pipeline.wait_for()
    assert sidebar.locator(".pl-Sidebar-store").inner_text() == "Store: notebooks/promptlab.duckdb"
    assert pipeline.locator(".pl-Sidebar-detail").first.inner_text() == "v1 · 1 step: greet"
    assert "notebooks/promptlab.duckdb" in sidebar.locator(".pl-Sidebar-stores option").all_inner_texts()
    assert not (jupyter_lab.root_dir / "promptlab.duckdb").exists()

    # When the pipeline is clicked and the inserted cell is run
    cells.nth(3).locator(".cm-content").click()
    pipeline.locator(".pl-Sidebar-open").click()
    inserted = cells.nth(4)
    inserted.locator(".pl-magic").wait_for()
    page.keyboard.press("Shift+Enter")

    # Then it is a %%pipeline cell that saves the same pipeline: unchanged
    assert inserted.locator(".pl-magic").inner_text() == "%%pipeline digest"
    inserted.locator(".jp-OutputArea-output", has_text="unchanged").wait_for()
