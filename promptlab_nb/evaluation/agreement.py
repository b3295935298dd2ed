"""How far a judge agrees with people, on the runs both rated: Cohen's κ and percent agreement.

Percent agreement ``p_o`` is the share of runs where the person's verdict (a rating of +1 is a
pass, -1 a fail) equals the evaluator's pass/fail. Cohen's κ (1960) discounts the agreement two
raters would reach by chance with their own pass rates: ``κ = (p_o - p_e) / (1 - p_e)``, with
``p_e = Σ_k p_{k·} p_{·k}`` from the two raters' marginal shares.

Intervals:
- percent agreement: the Wilson score interval of the agreeing count;
- κ: ``κ ± z·se`` clipped to [-1, 1], with the large-sample standard error of Fleiss, Cohen and
  Everitt (1969), "Large sample standard errors of kappa and weighted kappa", Psychological
  Bulletin 72:323, eq. 13 (the delta-method variance of κ under the multinomial).

The unit is the rated run (a person rates runs, repeats included), so ``n`` counts runs. With
fewer than ten runs the large-sample interval of κ is rough; the figure says how many there were.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from promptlab_nb.core.errors import InvalidData
from promptlab_nb.evaluation.statistics import two_sided_z, wilson_interval

_NAN = float("nan")


@dataclass(frozen=True, slots=True)
class Agreement:
    """Agreement of ``evaluator`` with people over ``n`` runs both rated."""

    evaluator: str
    kappa: float
    kappa_ci_low: float
    kappa_ci_high: float
    percent: float
    percent_ci_low: float
    percent_ci_high: float
    n: int

    def __repr__(self) -> str:
        return (
            f"Agreement({self.evaluator!r} with people on {self.n} runs: κ={self.kappa:.3g} "
            f"[{self.kappa_ci_low:.3g}, {self.kappa_ci_high:.3g}], agreement {self.percent:.1%} "
            f"[{self.percent_ci_low:.1%}, {self.percent_ci_high:.1%}], 95% CIs)"
        )


def cohen_kappa(
    people: Sequence[Hashable], evaluator: Sequence[Hashable], name: str = "evaluator", confidence: float = 0.95
) -> Agreement:
    """Cohen's κ and percent agreement between two raters' labels of the same items."""
    if len(people) != len(evaluator):
        raise InvalidData("Both raters need one label per item.")
    n = len(people)
    if n == 0:
        raise InvalidData(f"No run has both a person's rating and a {name!r} score; rate some with exp.rate(...).")
    table = pd.crosstab(pd.Series(list(people), name="people"), pd.Series(list(evaluator), name="evaluator"))
    categories = table.index.union(table.columns)
    shares = table.reindex(index=categories, columns=categories, fill_value=0).to_numpy(dtype=float) / n
    observed = float(np.trace(shares))
    kappa, se = _kappa_with_standard_error(shares, n)
    z = two_sided_z(confidence)
    agreeing = int(round(observed * n))
    low, high = wilson_interval(agreeing, n, confidence)
    return Agreement(
        evaluator=name,
        kappa=kappa,
        kappa_ci_low=max(kappa - z * se, -1.0),
        kappa_ci_high=min(kappa + z * se, 1.0),
        percent=observed,
        percent_ci_low=low,
        percent_ci_high=high,
        n=n,
    )


def _kappa_with_standard_error(shares: np.ndarray, n: int) -> tuple[float, float]:
    """κ and its standard error (Fleiss, Cohen & Everitt 1969) from the table of shares
    ``shares[i, j]`` (people said i, the evaluator j); NaN when chance agreement is certain."""
    rows, columns = shares.sum(axis=1), shares.sum(axis=0)
    observed, chance = float(np.trace(shares)), float(rows @ columns)
    if math.isclose(chance, 1.0):
        return _NAN, _NAN
    kappa = (observed - chance) / (1 - chance)
    diagonal = np.diag(shares) * ((1 - chance) - (rows + columns) * (1 - observed)) ** 2
    off_diagonal = shares * (columns[:, None] + rows[None, :]) ** 2
    np.fill_diagonal(off_diagonal, 0.0)
    variance = (
        diagonal.sum() + (1 - observed) ** 2 * off_diagonal.sum() - (observed * chance - 2 * chance + observed) ** 2
    ) / (n * (1 - chance) ** 4)
    return kappa, math.sqrt(max(variance, 0.0))
