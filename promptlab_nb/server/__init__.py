"""Jupyter server extension: the REST API that the Prompt Lab sidebar in JupyterLab calls."""

from __future__ import annotations

from typing import Any

from promptlab_nb.server.handlers import route_table
from promptlab_nb.server.lab_access import LabStore

STORE_WRITE_AHEAD_LOG = "*.duckdb.wal"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "promptlab_nb.server"}]


def _hide_store_write_ahead_logs(contents_manager: Any) -> None:
    """DuckDB's .wal file comes and goes while a notebook writes; a directory listing that meets it
    between its listdir and its stat answers 404, which JupyterLab shows as "Directory not found"."""
    if STORE_WRITE_AHEAD_LOG not in contents_manager.hide_globs:
        contents_manager.hide_globs = [*contents_manager.hide_globs, STORE_WRITE_AHEAD_LOG]


def _load_jupyter_server_extension(server_app: Any) -> None:
    _hide_store_write_ahead_logs(server_app.contents_manager)
    store = LabStore.for_server(server_app)
    base_url = server_app.web_app.settings["base_url"]
    server_app.web_app.add_handlers(".*$", route_table(base_url, store))
    server_app.log.info("promptlab_nb: Prompt Lab API at %spromptlab/api", base_url)
