"""Progress of an experiment: done, errors, cache hits and cost, as a tqdm bar (a widget in Jupyter).

A widget's saved state is the one it was created with ("0%"), so in Jupyter the bar is displayed under a
display id and replaced by its final line as text when the run ends: a stored notebook shows how it ended."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from promptlab_nb.core.vocabulary import RunStatus

if TYPE_CHECKING:
    from promptlab_nb.engine.run_rows import RunRecord


class Progress:
    """Counts finished runs; ``on_run`` (e.g. a live comparison view) sees every finished run record."""

    def __init__(
        self,
        total: int,
        description: str,
        enabled: bool = True,
        refresh_seconds: float = 0.25,
        on_run: Callable[[dict[str, Any]], Any] | None = None,
    ):
        self.total = total
        self.on_run = on_run
        self.done = self.errors = self.cached = 0
        self.cost = 0.0
        self.cost_unknown = False
        self._refresh_seconds = refresh_seconds
        self._last_refresh = 0.0
        self._bar: Any
        self._display: Any
        self._bar, self._display = _open_bar(total, description) if enabled and total else (None, None)

    def advance(self, record: RunRecord) -> None:
        self.done += 1
        self.errors += record.status != RunStatus.OK
        self.cached += record.cache_hit
        if record.cost is None and record.status == RunStatus.OK:
            self.cost_unknown = True
        self.cost += record.cost or 0.0
        if self.on_run is not None:
            self.on_run(record.row())
        if self._bar is not None:
            self._bar.update(1)
            self._refresh_postfix()

    def postfix(self) -> dict[str, str]:
        cost = f"${self.cost:.4f}" + ("+?" if self.cost_unknown else "")
        return {"errors": str(self.errors), "cached": str(self.cached), "cost": cost}

    def _refresh_postfix(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._bar is not None and (force or now - self._last_refresh >= self._refresh_seconds):
            self._last_refresh = now
            self._bar.set_postfix(self.postfix(), refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._refresh_postfix(force=True)
            self._bar.close()
            if self._display is not None:
                self._display.update(_final_line(self._bar))
            self._bar = self._display = None


def _open_bar(total: int, description: str) -> tuple[Any, Any]:
    """The bar, and in Jupyter the display handle its widget is shown under."""
    from tqdm.auto import tqdm
    from tqdm.notebook import tqdm as widget_tqdm

    options = {"total": total, "desc": description, "unit": "run", "dynamic_ncols": True}
    if not issubclass(tqdm, widget_tqdm):
        return tqdm(**options), None
    from IPython.display import display

    bar = tqdm(**options, display=False)
    return bar, display(bar.container, display_id=True)


def _final_line(bar) -> Any:
    from IPython.display import Pretty

    return Pretty(bar.format_meter(**{**bar.format_dict, "ncols": None}))
