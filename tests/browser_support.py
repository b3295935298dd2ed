"""A real JupyterLab and a real Chromium for browser tests: the server runs on 127.0.0.1 with a token
in a temporary root folder, the browser is Debian's chromium driven by playwright (never downloaded)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from process_support import free_port, stop

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_SECONDS = 60


def chromium_missing_reason() -> str | None:
    if CHROMIUM.exists():
        return None
    return f"no browser at {CHROMIUM}: install Debian's chromium (apt-get install -y chromium) to run browser tests"


NOTEBOOK_PATHS = {"jupyterlab": "lab/tree", "notebook": "notebooks"}


@dataclass
class LabServer:
    url: str
    token: str
    root: Path
    frontend: str

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/{NOTEBOOK_PATHS[self.frontend]}/{name}?token={self.token}"


def _server_environment(home: Path) -> dict[str, str]:
    environment = dict(os.environ)
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    for variable, folder in {
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTERLAB_SETTINGS_DIR": "settings",
        "JUPYTERLAB_WORKSPACES_DIR": "workspaces",
        "IPYTHONDIR": "ipython",
    }.items():
        environment[variable] = str(home / folder)
    return environment


def _wait_until_answering(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"jupyter lab did not answer within {SERVER_START_SECONDS} s:\n{log.read_text()[-3000:]}")


@contextmanager
def running_jupyter_lab(root: Path, home: Path, frontend: str = "jupyterlab") -> Iterator[LabServer]:
    """``jupyter lab`` (or ``jupyter notebook`` for Notebook 7) on a free loopback port, serving ``root``,
    its settings kept under ``home``."""
    port, token = free_port(), secrets.token_hex(16)
    log = home / "jupyter-lab.log"
    home.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        frontend,
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--expose-app-in-browser",
        "--allow-root",
        "--LabApp.extension_manager=readonly",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=_server_environment(home))
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_answering(f"{url}/api?token={token}", process, log)
        yield LabServer(url, token, root, frontend)
    finally:
        stop(process, timeout=15)


def write_notebook(path: Path, cells: list[str]) -> Path:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path


@contextmanager
def chromium_page(user_data_dir: Path, **context_options: Any) -> Iterator:
    """A page in a fresh headless Chromium profile (``context_options`` as playwright takes them, e.g.
    ``java_script_enabled=False``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 1000},
            **context_options,
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
