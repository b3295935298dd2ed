"""A template's score over its experiments, as a DataFrame that draws its own trend chart."""

from __future__ import annotations

from typing import Any

import pandas as pd

from promptlab_nb.core.errors import InvalidData

HISTORY_COLUMNS = ["experiment", "date", "variant", "version", "labels", "model", "n", "mean", "ci_low", "ci_high"]


class ScoreHistory(pd.DataFrame):
    """One row per experiment variant that ran a version of a template, oldest first; ``plot()``
    draws the mean score per experiment with its 95% CI as error bars (needs matplotlib)."""

    _metadata = ["evaluator"]

    def __init__(self, *args: Any, evaluator: str = "", **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.evaluator = evaluator

    @property
    def _constructor(self):
        return pd.DataFrame

    def plot(self):
        """The trend: each experiment's mean with its 95% CI, marked with the version and its labels."""
        return plot_trend(pd.DataFrame(self), self.evaluator)


def _point_label(row: pd.Series) -> str:
    labels = f" [{', '.join(row['labels'])}]" if row["labels"] else ""
    return f"v{row['version']}{labels}"


def plot_trend(history: pd.DataFrame, evaluator: str):
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise InvalidData("Plotting needs matplotlib: pip install 'promptlab_nb[plot]'.") from None
    scored = history.dropna(subset=["mean"]).reset_index(drop=True)
    if scored.empty:
        raise InvalidData(f"No experiment of this template is scored by {evaluator!r}; nothing to plot.")
    errors = [(scored["mean"] - scored["ci_low"]).fillna(0), (scored["ci_high"] - scored["mean"]).fillna(0)]
    figure, axes = plt.subplots(figsize=(max(6, 0.9 * len(scored)), 4))
    axes.errorbar(scored.index, scored["mean"], yerr=errors, fmt="-o", capsize=4, color="#4c78a8")
    for position, row in scored.iterrows():
        axes.annotate(_point_label(row), (position, row["mean"]), textcoords="offset points", xytext=(6, 6))
    axes.margins(0.15)
    axes.set_xticks(list(scored.index), list(scored["experiment"]), rotation=30, ha="right")
    axes.set_ylabel(f"{evaluator} (mean, 95% CI)")
    axes.set_xlabel("experiment, oldest first")
    figure.tight_layout()
    plt.close(figure)
    return figure
