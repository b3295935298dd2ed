"""A chart of one score per variant with its 95% confidence interval (matplotlib, optional)."""

from __future__ import annotations

import pandas as pd

from promptlab_nb.core.errors import InvalidData


def plot_summary(summary: pd.DataFrame, evaluator: str):
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise InvalidData("Plotting needs matplotlib: pip install 'promptlab_nb[plot]'.") from None
    if evaluator not in summary.columns:
        raise InvalidData(f"No score {evaluator!r} in the summary.")
    means = summary[evaluator]
    errors = [(means - summary[f"{evaluator} ci_low"]).fillna(0), (summary[f"{evaluator} ci_high"] - means).fillna(0)]
    figure, axes = plt.subplots(figsize=(6, 0.5 + 0.45 * len(summary)))
    axes.barh(list(summary.index), means, xerr=errors, capsize=4, color="#4c78a8")
    axes.invert_yaxis()
    axes.set_xlabel(f"{evaluator} (mean, 95% CI)")
    figure.tight_layout()
    plt.close(figure)
    return figure
