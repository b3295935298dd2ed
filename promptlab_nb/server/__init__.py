"""Jupyter server extension: the REST API that the Prompt Lab sidebar in JupyterLab calls."""

from __future__ import annotations

from typing import Any

from promptlab_nb.server.handlers import route_table
from promptlab_nb.server.store import LabStore


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "promptlab_nb.server"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    store = LabStore.for_server(server_app)
    base_url = server_app.web_app.settings["base_url"]
    server_app.web_app.add_handlers(".*$", route_table(base_url, store))
    server_app.log.info("promptlab_nb: REST API at %spromptlab/api on %s", base_url, store.describe())
