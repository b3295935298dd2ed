"""pass@k and pass^k from repeated runs (Chen et al. 2021, "Evaluating Large Language Models
Trained on Code", eq. 1).

For a row run ``n`` times with ``c`` passes, the unbiased estimate of the chance that at least
one of ``k`` runs passes is ``pass@k = 1 - C(n - c, k) / C(n, k)``, and that all ``k`` pass is
``pass^k = C(c, k) / C(n, k)`` (the same counting argument, as tau-bench, Yao et al. 2024, uses
it). Both are averaged over rows, the unit of analysis; the interval is ``proportion_interval``
of the per-row values (t, clipped to [0, 1]; Wilson when every row has the same value).
A run that failed counts as a failed attempt.
"""

from __future__ import annotations

from math import comb

import pandas as pd

from promptlab_nb.core.errors import InvalidData
from promptlab_nb.evaluation.statistics import proportion_interval

PASS_AT_COLUMNS = ["rows", "min_repeats", "pass@k", "pass@k ci_low", "pass@k ci_high"]
PASS_ALL_COLUMNS = ["pass^k", "pass^k ci_low", "pass^k ci_high"]


def pass_at_k(n: int, c: int, k: int) -> float:
    """The chance that at least one of ``k`` of the ``n`` runs (``c`` passed) passes."""
    return 1.0 - comb(n - c, k) / comb(n, k)


def pass_all_k(n: int, c: int, k: int) -> float:
    """The chance that all ``k`` of ``k`` runs drawn from the ``n`` runs (``c`` passed) pass."""
    return comb(c, k) / comb(n, k)


def pass_at_table(outcomes: pd.DataFrame, k: int, confidence: float = 0.95) -> pd.DataFrame:
    """Per variant (in order of appearance): rows, the fewest repeats of a row, pass@k and pass^k with
    their intervals, from ``outcomes``: one line per run with ``variant``, ``row_index`` and ``passed``."""
    if not isinstance(k, int) or k < 1:
        raise InvalidData(f"k must be a whole number of at least 1, got {k!r}.")
    tallies = (
        outcomes.assign(passed=outcomes["passed"].astype(bool))
        .groupby(["variant", "row_index"], sort=False)["passed"]
        .agg(n="size", c="sum")
        .reset_index()
    )
    _require_repeats(tallies, k)
    tallies["at"] = [pass_at_k(n, c, k) for n, c in zip(tallies["n"], tallies["c"], strict=True)]
    tallies["all"] = [pass_all_k(n, c, k) for n, c in zip(tallies["n"], tallies["c"], strict=True)]
    lines = {variant: _variant_line(rows, confidence) for variant, rows in tallies.groupby("variant", sort=False)}
    table = pd.DataFrame.from_dict(lines, orient="index", columns=PASS_AT_COLUMNS + PASS_ALL_COLUMNS)
    table.index.name = "variant"
    table.attrs["k"] = k
    return table.astype({"rows": "int64", "min_repeats": "int64"})


def _variant_line(rows: pd.DataFrame, confidence: float) -> list[float]:
    at, every = proportion_interval(rows["at"], confidence), proportion_interval(rows["all"], confidence)
    return [len(rows), int(rows["n"].min()), at.mean, at.ci_low, at.ci_high, every.mean, every.ci_low, every.ci_high]


def _require_repeats(tallies: pd.DataFrame, k: int) -> None:
    short = tallies[tallies["n"] < k]
    if not short.empty:
        fewest = short.groupby("variant", sort=False)["n"].min()
        listed = ", ".join(f"{variant!r} has rows run {runs} time(s)" for variant, runs in fewest.items())
        raise InvalidData(
            f"pass@{k} needs at least {k} repeats of every row: {listed}. "
            f"Run the experiment with repeats={k} or more, or ask for a smaller k."
        )
