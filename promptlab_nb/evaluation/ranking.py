"""A ranking of three or more variants from pairwise outcomes: the Bradley–Terry model.

Each variant ``i`` has a strength ``θ_i`` and ``P(i beats j) = 1 / (1 + exp(θ_j - θ_i))``
(Bradley & Terry 1952); a tie counts half a win each way. Strengths are log-odds centred on 0, so
a variant at ``+1`` beats one at ``0`` 73 % of the time. They maximise the likelihood, found by
Newton's method on the (concave) log-likelihood.

A variant that wins or loses every comparison would have an infinite strength; one virtual tie
between every pair (half a win each way) keeps them finite. It is a small pull toward 0 that
vanishes as comparisons accumulate, the same kind of prior as Hunter (2004, section 5) discusses.

The intervals are percentile bootstrap intervals over data rows: a resample draws rows with
replacement and keeps all the comparisons of each drawn row, so comparisons of one row (judged
for every pair of variants) stay together, as the row is the unit everywhere else.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from promptlab_nb.core.errors import InvalidData
from promptlab_nb.evaluation.pairwise import A_WINS, B_WINS, WIN_SCORES

RANKING_RESAMPLES = 1000
VIRTUAL_TIE = 0.5
RANKING_COLUMNS = ["rank", "strength", "ci_low", "ci_high", "wins", "losses", "ties", "comparisons"]
_CONVERGED = 1e-10
_MAX_STEPS = 100


def bradley_terry(
    comparisons: pd.DataFrame,
    variants: Sequence[str],
    confidence: float = 0.95,
    seed: int | None = None,
    resamples: int = RANKING_RESAMPLES,
) -> pd.DataFrame:
    """Strengths of ``variants``, strongest first, from ``comparisons``: one line per comparison with
    ``row_index``, ``a``, ``b`` (variant names) and ``outcome`` for ``a`` (``"a"``, ``"b"`` or ``"tie"``)."""
    if len(variants) < 2:
        raise InvalidData("A ranking needs at least two variants.")
    per_row_wins = row_tallies(comparisons, variants)
    strengths = fit_strengths(per_row_wins.sum(axis=0))
    low, high = _bootstrap_intervals(per_row_wins, confidence, np.random.default_rng(seed), resamples)
    table = pd.DataFrame(
        {"strength": strengths, "ci_low": low, "ci_high": high}, index=pd.Index(list(variants), name="variant")
    )
    table = table.join(_counts(comparisons, variants)).sort_values("strength", ascending=False, kind="stable")
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table[RANKING_COLUMNS]


def row_tallies(comparisons: pd.DataFrame, variants: Sequence[str]) -> np.ndarray:
    """``wins[r, i, j]``: the wins of variant ``i`` over ``j`` in row ``r`` (a tie is half a win each way)."""
    position = {variant: index for index, variant in enumerate(variants)}
    unknown = sorted(set(comparisons["a"]).union(comparisons["b"]) - set(position))
    if unknown:
        raise InvalidData(f"Comparisons of unknown variant(s) {', '.join(map(repr, unknown))}.")
    rows, _ = pd.factorize(comparisons["row_index"])
    first = comparisons["a"].map(position).to_numpy()
    second = comparisons["b"].map(position).to_numpy()
    score = comparisons["outcome"].map(WIN_SCORES).to_numpy(dtype=float)
    wins = np.zeros((max(int(rows.max(initial=-1)) + 1, 1), len(variants), len(variants)))
    np.add.at(wins, (rows, first, second), score)
    np.add.at(wins, (rows, second, first), 1.0 - score)
    return wins


def fit_strengths(wins: np.ndarray) -> np.ndarray:
    """Maximum-likelihood strengths (centred log-odds) for the total ``wins[i, j]``, with one virtual tie
    per pair, by Newton's method."""
    wins = wins + VIRTUAL_TIE * (1 - np.eye(len(wins)))
    games = wins + wins.T
    theta = np.zeros(len(wins))
    for _ in range(_MAX_STEPS):
        beats = 1.0 / (1.0 + np.exp(theta[None, :] - theta[:, None]))
        gradient = wins.sum(axis=1) - (games * beats).sum(axis=1)
        spread = games * beats * (1 - beats)
        information = np.diag(spread.sum(axis=1)) - spread
        step = np.linalg.lstsq(information, gradient, rcond=None)[0]
        theta = theta + step - step.mean()
        if np.abs(step).max() < _CONVERGED:
            break
    return theta - theta.mean()


def _bootstrap_intervals(
    per_row_wins: np.ndarray, confidence: float, rng: np.random.Generator, resamples: int
) -> tuple[np.ndarray, np.ndarray]:
    rows = len(per_row_wins)
    flat = per_row_wins.reshape(rows, -1)
    fits = np.empty((resamples, per_row_wins.shape[1]))
    for resample in range(resamples):
        drawn = np.bincount(rng.integers(0, rows, rows), minlength=rows).astype(float)
        fits[resample] = fit_strengths((drawn @ flat).reshape(per_row_wins.shape[1:]))
    tail = (1 - confidence) / 2
    low, high = np.quantile(fits, [tail, 1 - tail], axis=0)
    return low, high


def _counts(comparisons: pd.DataFrame, variants: Sequence[str]) -> pd.DataFrame:
    outcomes = comparisons["outcome"]
    sides = [
        pd.DataFrame({"variant": comparisons["a"], "won": outcomes == A_WINS, "lost": outcomes == B_WINS}),
        pd.DataFrame({"variant": comparisons["b"], "won": outcomes == B_WINS, "lost": outcomes == A_WINS}),
    ]
    tallies = (
        pd.concat(sides)
        .groupby("variant")
        .agg(wins=("won", "sum"), losses=("lost", "sum"), comparisons=("won", "size"))
    )
    tallies = tallies.reindex(list(variants), fill_value=0).astype("int64")
    tallies["ties"] = tallies["comparisons"] - tallies["wins"] - tallies["losses"]
    return tallies
