"""Blind human rating in the comparison widget: no variant name reaches the browser, each row shows its
outputs in an order of its own, and a person picks the better of the first two (A and B) or calls a tie.

The order of a row is drawn from a hash of the experiment id and the row index, so a row keeps its sides
while the user pages, filters or opens the widget again. With three or more variants, A and B are the
first two outputs of that order: each row asks about one pair, and over the rows every pair is asked
about, which is what ``exp.ranking()`` needs. A pick is stored with ``exp.prefer`` for the first repeat
of each side; ``exp.pairwise(a, b)`` without a judge reads the picks.
"""

from __future__ import annotations

import hashlib
import random
import string
from typing import TYPE_CHECKING, Any, Protocol

import anywidget
import traitlets

from promptlab_nb.core.errors import PromptLabError
from promptlab_nb.notebook.widget_state import ROW_ORDER, VARIANT_BASELINE
from promptlab_nb.services.preferences import PreferenceService

if TYPE_CHECKING:
    from promptlab_nb.schemas.experiment_records import ExperimentRecord
    from promptlab_nb.store.database import Database

MASKED_TRAITS = ("variants", "sort_options", "baseline_options", "summary", "chart", "view")
LEFT, RIGHT, TIE = "left", "right", "tie"


class PreferredExperiment(Protocol):
    """What blind rating reads of an Experiment: its id, and where picks are stored."""

    database: Database

    @property
    def record(self) -> ExperimentRecord: ...

    def prefer(
        self, left_run_id: str, right_run_id: str, preferred_run_id: str | None, note: str | None = None
    ) -> dict[str, Any]: ...


def side_order(experiment_id: str, row_index: int, count: int) -> list[int]:
    """The positions of a row's ``count`` outputs as blind mode shows them, the same every time."""
    seed = hashlib.sha256(f"{experiment_id}:{row_index}".encode()).digest()
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return order


def blind_labels(count: int) -> list[str]:
    """Column headers that name no variant: output A, output B, ..."""
    return [f"output {_letters(index)}" for index in range(count)]


def _letters(index: int) -> str:
    letters = string.ascii_uppercase
    return letters[index] if index < len(letters) else letters[index // len(letters) - 1] + letters[index % 26]


def masked(name: str, value: Any) -> Any:
    """A trait's value with every variant name taken out: headers by letter, sorting by row only, diffs
    against inputs only, no summary nor chart (their rows are variants). The view is ``blind_view``'s."""
    if name == "variants":
        return blind_labels(len(value))
    if name == "sort_options":
        return [option for option in value if option["key"] == ROW_ORDER]
    if name == "baseline_options":
        return [option for option in value if not option["key"].startswith(f"{VARIANT_BASELINE}:")]
    return []


def blind_view(view: dict[str, Any], experiment_id: str, picks: dict[frozenset[str], str | None]) -> dict[str, Any]:
    """A page of the grid with each row's outputs in its blind order, without their variant names, and the
    pair asked about (A and B) with the pick stored for it, if any."""
    return {**view, "rows": [_blind_row(row, experiment_id, picks) for row in view.get("rows", [])]}


def _blind_row(row: dict[str, Any], experiment_id: str, picks: dict[frozenset[str], str | None]) -> dict[str, Any]:
    order = side_order(experiment_id, row["row_index"], len(row["cells"]))
    cells = [_nameless(row["cells"][position]) for position in order]
    return {**row, "cells": cells, "pair": _pair(cells, picks)}


def _nameless(cell: dict[str, Any] | None) -> dict[str, Any] | None:
    if cell is None:
        return None
    shown = {key: value for key, value in cell.items() if key != "variant"}
    if "repeats" in shown:
        shown["repeats"] = [_nameless(repeat) for repeat in shown["repeats"]]
    return shown


def _pair(cells: list[dict[str, Any] | None], picks: dict[frozenset[str], str | None]) -> dict[str, Any] | None:
    """The first two outputs shown, when both ran or failed, and which one was picked (or a tie)."""
    if len(cells) < 2 or cells[0] is None or cells[1] is None:
        return None
    left, right = cells[0]["run_id"], cells[1]["run_id"]
    pair = frozenset((left, right))
    picked = None if pair not in picks else {left: LEFT, right: RIGHT, None: TIE}.get(picks[pair])
    return {"left_run_id": left, "right_run_id": right, "picked": picked}


def page_row_indexes(view: dict[str, Any]) -> list[int]:
    return [row["row_index"] for row in view.get("rows", [])]


class BlindRating(anywidget.AnyWidget):
    """The widget's blind switch: while ``blind`` is on, every trait that could name a variant is set
    through ``masked`` or ``blind_view`` (the unmasked value is kept to show again when it goes off), and
    a ``prefer`` message from the view stores a pick."""

    blind = traitlets.Bool(False).tag(sync=True)
    _unmasked = traitlets.Dict()

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._seen_experiment: tuple[PreferredExperiment, str] | None = None
        self.on_msg(self._handle_pick_message)

    def _compared(self) -> PreferredExperiment:
        raise NotImplementedError

    @traitlets.validate(*MASKED_TRAITS)
    def _hide_variant_names(self, proposal: traitlets.Bunch) -> Any:
        name, value = proposal["trait"].name, proposal["value"]
        self._unmasked = {**self._unmasked, name: value}
        if not self.blind:
            return value
        return self._blind_page(value) if name == "view" else masked(name, value)

    @traitlets.observe("blind")
    def _blind_switched(self, change: dict[str, Any]) -> None:
        """Going blind sorts by row and leaves diffs against a variant and the "vs baseline" view, which
        would name or single out variants; then every masked trait is shown again, masked or not."""
        with self.hold_sync():
            if change["new"]:
                self._leave_views_naming_variants()
            for name in MASKED_TRAITS:
                setattr(self, name, self._unmasked.get(name, getattr(self, name)))

    def _leave_views_naming_variants(self) -> None:
        """The grid's traits (``notebook.widget``) that single a variant out, and the baseline view's."""
        grid = self.trait_values()
        if grid["sort_by"] != ROW_ORDER:
            self.set_trait("sort_by", ROW_ORDER)
        if grid["baseline"].startswith(f"{VARIANT_BASELINE}:"):
            self.set_trait("baseline", "")
        self.set_trait("show_baseline", False)

    def _blind_page(self, view: dict[str, Any]) -> dict[str, Any]:
        try:
            experiment = self._compared()
            experiment_id = self._experiment_id(experiment)
            with experiment.database.session() as session:
                picks = PreferenceService(session).picks(experiment_id, page_row_indexes(view))
        except PromptLabError:
            experiment_id, picks = "", {}
        return blind_view(view, experiment_id, picks)

    def _experiment_id(self, experiment: PreferredExperiment) -> str:
        """The id of the experiment shown, read from the store once per experiment object."""
        if self._seen_experiment is None or self._seen_experiment[0] is not experiment:
            self._seen_experiment = (experiment, experiment.record.id)
        return self._seen_experiment[1]

    def prefer(self, left_run_id: str, right_run_id: str, preferred_run_id: str | None) -> None:
        """Store a pick through ``exp.prefer`` and show it on the row; a mistake becomes ``message``."""
        try:
            self._compared().prefer(left_run_id, right_run_id, preferred_run_id)
        except PromptLabError as error:
            self.message = str(error)
            return
        self.message = ""
        self.view = self._unmasked.get("view", {})

    def _handle_pick_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if content.get("kind") == "prefer":
            preferred = content.get("preferred_run_id")
            self.prefer(
                str(content["left_run_id"]), str(content["right_run_id"]), None if preferred is None else str(preferred)
            )
