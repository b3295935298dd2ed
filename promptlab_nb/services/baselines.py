"""An experiment against a baseline experiment: the rows both ran, matched by their input values (not
their position), compared per variant and evaluator with paired differences; and the rows whose
verdict changed, pass to fail first.

Each variant is paired with the baseline's variant of the same label, else of the same target and
model, else of the same target, else with the baseline's only variant. A row's verdict is the one its
evaluator stored (a failed run has not passed); with repeats, a row passes when at least ``PASS_AT`` of
its repeats passed. Scores without a verdict (a custom number) change no verdict.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from promptlab_nb.core import errors
from promptlab_nb.display.comparisons import baseline_header, comparison_html, comparison_text
from promptlab_nb.evaluation.analysis import RATING, long_scores, scored_columns
from promptlab_nb.evaluation.statistics import paired_difference, per_row_means
from promptlab_nb.schemas.experiment_records import ExperimentRecord, VariantRecord
from promptlab_nb.services.experiments import ExperimentService
from promptlab_nb.services.results import runs_frame
from promptlab_nb.services.score_outcomes import pass_fail_frame
from promptlab_nb.store.models import ExperimentRow, StoredExperiment, Variant

PASS_AT = 0.5
DATA_HASH = "data_hash"
CURRENT, BASELINE = "current", "baseline"
DIFFERENCE_COLUMNS = [
    "variant",
    "baseline_variant",
    "evaluator",
    "n",
    "mean_diff",
    "ci_low",
    "ci_high",
    "p_value",
    "wins",
    "losses",
    "ties",
    "worse_beyond_noise",
    "better_beyond_noise",
]
REGRESSION_COLUMNS = [
    "variant",
    "baseline_variant",
    "evaluator",
    "baseline_output",
    "output",
    "baseline_score",
    "score",
]


def row_key(inputs: dict[str, Any]) -> str:
    """A data row by its values: the same inputs give the same key whatever their column order."""
    return json.dumps(inputs, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def data_fingerprint(rows: Iterable[dict[str, Any]]) -> str:
    """A hash of the data's rows, whatever their order: two experiments on the same data share it."""
    digest = hashlib.sha256()
    for key in sorted(row_key(row) for row in rows):
        digest.update(key.encode())
        digest.update(b"\n")
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class BaselineDifference:
    """``variant`` minus the baseline's ``baseline_variant`` on the ``n`` rows both ran, for one evaluator;
    ``wins`` counts rows where the variant scored higher, ``losses`` where the baseline did."""

    variant: str
    baseline_variant: str
    evaluator: str
    n: int
    mean_diff: float
    ci_low: float
    ci_high: float
    p_value: float
    wins: int
    losses: int
    ties: int

    @property
    def worse_beyond_noise(self) -> bool:
        """The whole 95% CI of the difference is below zero: a regression, not noise."""
        return bool(self.ci_high < 0)

    @property
    def better_beyond_noise(self) -> bool:
        return bool(self.ci_low > 0)

    def row(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "worse_beyond_noise": self.worse_beyond_noise,
            "better_beyond_noise": self.better_beyond_noise,
        }


@dataclass(frozen=True)
class BaselineComparison:
    """``exp.compare_to(baseline)``: one difference per variant and evaluator; ``worse`` lists those worse
    than the baseline beyond noise (what a CI gate fails on)."""

    experiment: str
    baseline: str
    shared_rows: int
    differences: list[BaselineDifference] = field(default_factory=list)

    @property
    def worse(self) -> list[BaselineDifference]:
        return [difference for difference in self.differences if difference.worse_beyond_noise]

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([difference.row() for difference in self.differences], columns=DIFFERENCE_COLUMNS)

    def _header(self) -> str:
        return baseline_header(self.experiment, self.baseline, self.shared_rows, len(self.worse))

    def __repr__(self) -> str:
        return comparison_text(self._header(), self.frame())

    def _repr_html_(self) -> str:
        return comparison_html(self._header(), self.frame())


@dataclass(frozen=True)
class _Side:
    """One experiment as a comparison reads it: its record, runs, and the shared-row number of each row."""

    record: ExperimentRecord
    runs: pd.DataFrame
    rows: list[dict[str, Any]]
    keys: list[str]
    connection: Connection
    _outcomes: dict[str, pd.DataFrame | None] = field(default_factory=dict, compare=False, repr=False)

    def passes(self, variant: str, evaluator: str, shared: dict[str, int]) -> dict[int, bool]:
        """Per shared row number, whether the variant's row passed ``evaluator``; rows without a verdict
        are left out."""
        outcomes = self._pass_fail(evaluator)
        if outcomes is None:
            return {}
        judged = outcomes[(outcomes["variant"] == variant) & outcomes["passed"].notna()]
        shares = judged.assign(passed=judged["passed"].astype(float)).groupby("row_index")["passed"].mean()
        return {
            shared[self.keys[row_index]]: bool(share >= PASS_AT)
            for row_index, share in shares.items()
            if self.keys[row_index] in shared
        }

    def _pass_fail(self, evaluator: str) -> pd.DataFrame | None:
        """Every run's verdict by ``evaluator``, read once for all the variants; None without verdicts."""
        if evaluator not in self._outcomes:
            try:
                self._outcomes[evaluator] = pass_fail_frame(self.connection, self.record.id, evaluator)
            except errors.InvalidData:
                self._outcomes[evaluator] = None
        return self._outcomes[evaluator]


class BaselineService:
    def __init__(self, session: Session):
        self.session = session
        self.experiments = ExperimentService(session)

    def compare(
        self, name: str, baseline: str | None = None, evaluators: Sequence[str] | None = None
    ) -> BaselineComparison:
        """Per variant and evaluator, the paired difference from the baseline on the rows both ran."""
        current, base = self._sides(name, baseline)
        shared = _shared_rows(current, base)
        differences = [
            _difference(current, base, variant, baseline_variant, evaluator, shared)
            for variant, baseline_variant in _variant_pairs(current.record, base.record)
            for evaluator in _evaluators(current, base, evaluators)
        ]
        return BaselineComparison(current.record.name, base.record.name, len(shared), differences)

    def verdict_rows(
        self, name: str, baseline: str | None = None, evaluators: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Plain rows for a "vs baseline" view: per shared row, variant and evaluator, both outputs, both
        scores and verdicts, and whether it ``regressed`` (pass to fail) or ``improved``; changed verdicts
        first, regressions before improvements, then in the experiment's row order."""
        current, base = self._sides(name, baseline)
        shared = _shared_rows(current, base)
        rows = [
            row
            for variant, baseline_variant in _variant_pairs(current.record, base.record)
            for evaluator in _evaluators(current, base, evaluators)
            for row in _verdicts(current, base, variant, baseline_variant, evaluator, shared)
        ]
        return sorted(rows, key=lambda row: (not row["regressed"], not row["improved"]))

    def regressions(
        self, name: str, baseline: str | None = None, evaluators: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """The rows whose verdict went from pass to fail: the data columns, both outputs side by side."""
        rows = [row for row in self.verdict_rows(name, baseline, evaluators) if row["regressed"]]
        inputs = pd.DataFrame([row["inputs"] for row in rows])
        described = pd.DataFrame(rows, columns=REGRESSION_COLUMNS)
        return pd.concat([described.iloc[:, :3], inputs, described.iloc[:, 3:]], axis=1)

    def default_baseline(self, name: str) -> str:
        """The latest experiment before ``name`` on the same data that ran a variant of one of its targets."""
        record = self.experiments.get(name)
        targets = sorted({variant.target_name for variant in record.variants})
        fingerprint = self._fingerprints({record.id: record.settings})[record.id]
        candidates = self._earlier_on_as_many_rows(record, targets)
        fingerprints = self._fingerprints({id_: settings for id_, _, settings in candidates})
        for id_, candidate, _ in candidates:
            if fingerprints[id_] == fingerprint:
                return candidate
        raise errors.BaselineNotFound(name, targets)

    def _earlier_on_as_many_rows(
        self, record: ExperimentRecord, targets: list[str]
    ) -> list[tuple[str, str, dict[str, Any] | None]]:
        """Id, name and settings of each earlier experiment with as many rows that ran one of ``targets``,
        newest first."""
        query = (
            select(StoredExperiment.id, StoredExperiment.name, StoredExperiment.settings)
            .where(
                StoredExperiment.created_at < record.created_at,
                StoredExperiment.row_count == record.row_count,
                StoredExperiment.id.in_(select(Variant.experiment_id).where(Variant.target_name.in_(targets))),
            )
            .order_by(StoredExperiment.created_at.desc())
        )
        return [(id_, name, settings) for id_, name, settings in self.session.execute(query)]

    def _fingerprints(self, settings: dict[str, dict[str, Any] | None]) -> dict[str, str]:
        """Each experiment's data fingerprint: kept in its settings, else computed from its rows, which are
        read in one query for all the experiments without one."""
        hashes = {id_: (kept or {}).get(DATA_HASH) for id_, kept in settings.items()}
        known = {id_: found for id_, found in hashes.items() if found}
        rows: dict[str, list[dict[str, Any]]] = {id_: [] for id_ in settings if id_ not in known}
        if rows:
            query = select(ExperimentRow.experiment_id, ExperimentRow.inputs).where(
                ExperimentRow.experiment_id.in_(list(rows))
            )
            for experiment_id, inputs in self.session.execute(query):
                rows[experiment_id].append(inputs)
        return {**known, **{id_: data_fingerprint(data) for id_, data in rows.items()}}

    def _sides(self, name: str, baseline: str | None) -> tuple[_Side, _Side]:
        baseline = baseline or self.default_baseline(name)
        if baseline == name:
            raise errors.InvalidData(f"Compare {name!r} with another experiment, not with itself.")
        return self._side(name), self._side(baseline)

    def _side(self, name: str) -> _Side:
        record = self.experiments.get(name)
        runs = runs_frame(self.session.connection(), record.id)
        rows = self.experiments.rows(record.id)
        return _Side(record, runs, rows, _occurrence_keys(rows), self.session.connection())


def _occurrence_keys(rows: list[dict[str, Any]]) -> list[str]:
    """Per row index, its values' key and how many rows before it had the same values: the same data in
    another order gets the same keys, and a repeated row pairs with the repeat."""
    seen: Counter[str] = Counter()
    keys = []
    for row in rows:
        key = row_key(row)
        keys.append(f"{seen[key]}:{key}")
        seen[key] += 1
    return keys


def _shared_rows(current: _Side, base: _Side) -> dict[str, int]:
    """Each key both experiments have, numbered in the current experiment's row order."""
    in_base = set(base.keys)
    shared = [key for key in current.keys if key in in_base]
    if not shared:
        raise errors.InvalidData(
            f"{current.record.name!r} and {base.record.name!r} share no data row; "
            "compare experiments run on the same data."
        )
    return {key: number for number, key in enumerate(shared)}


def _variant_pairs(current: ExperimentRecord, base: ExperimentRecord) -> list[tuple[str, str]]:
    pairs = [(variant.label, match.label) for variant in current.variants if (match := _match(variant, base.variants))]
    if not pairs:
        raise errors.InvalidData(
            f"No variant of {current.name!r} has a counterpart in {base.name!r}: {_labels(current)} vs {_labels(base)}."
        )
    return pairs


def _labels(record: ExperimentRecord) -> str:
    return ", ".join(repr(variant.label) for variant in record.variants)


def _match(variant: VariantRecord, candidates: Sequence[VariantRecord]) -> VariantRecord | None:
    rules = (
        lambda other: other.label == variant.label,
        lambda other: (other.target_name, other.model) == (variant.target_name, variant.model),
        lambda other: other.target_name == variant.target_name,
        lambda other: len(candidates) == 1,
    )
    for rule in rules:
        found = next((other for other in candidates if rule(other)), None)
        if found is not None:
            return found
    return None


def _evaluators(current: _Side, base: _Side, asked: Sequence[str] | None) -> list[str]:
    scored_in_base = set(scored_columns(base.runs))
    common = [name for name in scored_columns(current.runs) if name in scored_in_base and name != RATING]
    if asked:
        unknown = [name for name in asked if name not in common]
        if unknown:
            raise errors.InvalidData(
                f"Both experiments must be scored by {', '.join(map(repr, unknown))}; scored by both: "
                f"{', '.join(map(repr, common)) or '(none)'}."
            )
        return list(asked)
    if not common:
        raise errors.InvalidData(
            f"{current.record.name!r} and {base.record.name!r} share no evaluator; score both with "
            "exp.evaluate(...) first."
        )
    return common


def _paired_scores(side: _Side, variant: str, evaluator: str, as_: str, shared: dict[str, int]) -> pd.DataFrame:
    """The variant's scores on the shared rows, each row numbered by its shared key, under the name ``as_``."""
    scores = long_scores(side.runs[side.runs["variant"] == variant], evaluator)
    numbers = pd.Series([shared.get(key) for key in side.keys], dtype="Int64")
    scores = scores.assign(variant=as_, row_index=numbers.loc[scores["row_index"]].to_numpy())
    return scores.dropna(subset=["row_index"]).astype({"row_index": "int64"})


def _difference(
    current: _Side, base: _Side, variant: str, baseline_variant: str, evaluator: str, shared: dict[str, int]
) -> BaselineDifference:
    scores = pd.concat(
        [
            _paired_scores(current, variant, evaluator, CURRENT, shared),
            _paired_scores(base, baseline_variant, evaluator, BASELINE, shared),
        ],
        ignore_index=True,
    )
    comparison = paired_difference(scores, CURRENT, BASELINE)
    return BaselineDifference(
        variant=variant,
        baseline_variant=baseline_variant,
        evaluator=evaluator,
        n=comparison.n_pairs,
        mean_diff=comparison.mean_diff,
        ci_low=comparison.ci_low,
        ci_high=comparison.ci_high,
        p_value=comparison.p_value,
        wins=comparison.wins_a,
        losses=comparison.wins_b,
        ties=comparison.ties,
    )


def _first_outputs(side: _Side, variant: str, shared: dict[str, int]) -> dict[int, Any]:
    """Per shared row number, the variant's first repeat: its output, or its error when it failed."""
    runs = side.runs[side.runs["variant"] == variant].sort_values("repeat").drop_duplicates("row_index")
    return {
        shared[side.keys[row_index]]: _text(output) if _text(output) is not None else _text(error)
        for row_index, output, error in zip(runs["row_index"], runs["output"], runs["error"], strict=True)
        if side.keys[row_index] in shared
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _verdicts(
    current: _Side, base: _Side, variant: str, baseline_variant: str, evaluator: str, shared: dict[str, int]
) -> list[dict[str, Any]]:
    """Plain Python values only (no numpy), ready for JSON: the rows a widget shows."""
    now = _row_scores(current, variant, evaluator, shared)
    before = _row_scores(base, baseline_variant, evaluator, shared)
    passes, baseline_passes = (
        current.passes(variant, evaluator, shared),
        base.passes(baseline_variant, evaluator, shared),
    )
    outputs, baseline_outputs = _first_outputs(current, variant, shared), _first_outputs(base, baseline_variant, shared)
    row_indexes, baseline_row_indexes = _row_indexes(current, shared), _row_indexes(base, shared)
    return [
        {
            "row_index": row_indexes[number],
            "baseline_row_index": baseline_row_indexes[number],
            "inputs": current.rows[row_indexes[number]],
            "variant": variant,
            "baseline_variant": baseline_variant,
            "evaluator": evaluator,
            "output": outputs.get(number),
            "baseline_output": baseline_outputs.get(number),
            "score": float(now[number]),
            "baseline_score": float(before[number]),
            "passed": passes.get(number),
            "baseline_passed": baseline_passes.get(number),
            "regressed": baseline_passes.get(number) is True and passes.get(number) is False,
            "improved": baseline_passes.get(number) is False and passes.get(number) is True,
        }
        for number in sorted(now.keys() & before.keys())
    ]


def _row_indexes(side: _Side, shared: dict[str, int]) -> dict[int, int]:
    """Per shared row number, the row's index in ``side``'s experiment."""
    return {shared[key]: index for index, key in enumerate(side.keys) if key in shared}


def _row_scores(side: _Side, variant: str, evaluator: str, shared: dict[str, int]) -> dict[int, float]:
    means = per_row_means(_paired_scores(side, variant, evaluator, variant, shared))
    return {int(number): float(value) for number, value in zip(means["row_index"], means["value"], strict=True)}
