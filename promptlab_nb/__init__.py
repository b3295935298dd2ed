"""promptlab_nb: a Jupyter-native prompt engineering lab.

``Lab`` opens a store (``pl.Lab("team.duckdb")``); ``current_lab()`` is the kernel's Lab, the one the
magics use (``lab()`` is its former name); ``PromptLab`` holds the settings (``%config PromptLab``).
Names are imported on first use, so ``%load_ext promptlab_nb`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Lab": "promptlab_nb._lab",
    "PromptLab": "promptlab_nb.core.config",
    "Experiment": "promptlab_nb.experiment",
    "mock_model": "promptlab_nb.engine.providers.mock",
    "current_lab": "promptlab_nb.notebook.session",
    "lab": "promptlab_nb.notebook.session",
}

__all__ = [
    "Experiment",
    "Lab",
    "PromptLab",
    "__version__",
    "current_lab",
    "errors",
    "evals",
    "lab",
    "load_ipython_extension",
    "mock_model",
]

if TYPE_CHECKING:
    from promptlab_nb import evaluation as evals
    from promptlab_nb._lab import Lab
    from promptlab_nb.core import errors
    from promptlab_nb.core.config import PromptLab
    from promptlab_nb.engine.providers.mock import mock_model
    from promptlab_nb.experiment import Experiment
    from promptlab_nb.notebook.session import current_lab, lab


def __getattr__(name: str) -> Any:
    if name == "evals":
        return importlib.import_module("promptlab_nb.evaluation")
    if name == "errors":
        return importlib.import_module("promptlab_nb.core.errors")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'promptlab_nb' has no attribute {name!r}")


def load_ipython_extension(ipython) -> None:
    """``%load_ext promptlab_nb``: the %%prompt, %%pipeline and %prompt magics and %config PromptLab."""
    from promptlab_nb.notebook.magics import register

    register(ipython)


def unload_ipython_extension(ipython) -> None:
    from promptlab_nb.notebook.magics import unregister

    unregister(ipython)
