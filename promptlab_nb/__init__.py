"""promptlab_nb: a Jupyter-native prompt engineering lab."""

from promptlab_nb import evaluation as evals
from promptlab_nb.core.config import PromptLab
from promptlab_nb.engine.providers.mock import mock_model
from promptlab_nb.lab import Lab

__version__ = "0.1.0"

__all__ = ["Lab", "PromptLab", "__version__", "evals", "mock_model"]
