"""Experiment: what a user holds after run/compare. Every question it answers is read from the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from promptlab_nb.core.errors import InvalidData
from promptlab_nb.engine.loop import run_blocking
from promptlab_nb.schemas.experiments import ExperimentRecord
from promptlab_nb.services.execution import ExecutionOptions, ExecutionResult, ExperimentExecution
from promptlab_nb.services.experiments import ExperimentService
from promptlab_nb.services.results import runs_frame, steps_frame

if TYPE_CHECKING:
    from promptlab_nb.lab import Lab


class Experiment:
    """Variants x rows x repeats, stored. ``runs`` is a DataFrame; ``resume()`` runs what is missing."""

    def __init__(self, lab: Lab, name: str):
        self.lab = lab
        self.name = name
        self.last_execution: ExecutionResult | None = None

    @property
    def record(self) -> ExperimentRecord:
        with self.lab.db.session() as session:
            return ExperimentService(session).get(self.name)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def variants(self) -> list[str]:
        return [variant.label for variant in self.record.variants]

    @property
    def runs(self) -> pd.DataFrame:
        """One row per run: variant, inputs, output, status, error, latency, tokens, cost, cache hit, scores."""
        record = self.record
        with self.lab.db.connection() as connection:
            return runs_frame(connection, record.id)

    @property
    def steps(self) -> pd.DataFrame:
        """One row per pipeline step of every run: rendered output, status, tokens, latency and cost."""
        record = self.record
        with self.lab.db.connection() as connection:
            return steps_frame(connection, record.id)

    def status_counts(self) -> dict[str, int]:
        record = self.record
        with self.lab.db.session() as session:
            return ExperimentService(session).status_counts(record.id)

    async def aexecute(self, options: ExecutionOptions | None = None) -> Experiment:
        execution = ExperimentExecution(self.lab.db, self.lab.settings)
        self.last_execution = await execution.run(self.name, options or ExecutionOptions(cache=self.lab.settings.cache))
        return self

    def resume(self, *, cache: bool | None = None, confirm: bool = False, progress: bool = True) -> Experiment:
        """Run only what is missing: runs never started, and those that failed or were interrupted."""
        options = self.lab.execution_options(cache=cache, confirm=confirm, progress=progress)
        return run_blocking(lambda: self.aexecute(options))

    async def aresume(self, *, cache: bool | None = None, confirm: bool = False, progress: bool = True) -> Experiment:
        return await self.aexecute(self.lab.execution_options(cache=cache, confirm=confirm, progress=progress))

    def export(self, path: str | Path) -> Path:
        """Write the runs to CSV, JSONL or Parquet, chosen by the file's extension."""
        path = Path(path)
        runs = self.runs
        writers = {
            ".csv": lambda: runs.to_csv(path, index=False),
            ".jsonl": lambda: runs.to_json(path, orient="records", lines=True, date_format="iso"),
            ".parquet": lambda: _parquet_safe(runs).to_parquet(path, index=False),
        }
        if path.suffix.lower() not in writers:
            raise InvalidData(f"{path.name}: export to a .csv, .jsonl or .parquet file.")
        writers[path.suffix.lower()]()
        return path

    def __repr__(self) -> str:
        record = self.record
        counts = self.status_counts()
        done = ", ".join(f"{count} {status}" for status, count in sorted(counts.items())) or "no runs"
        return (
            f"<Experiment {record.name}: {len(record.variants)} variants x {record.row_count} rows x "
            f"{record.repeats} repeats, {record.status} ({done})>"
        )


def _parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    converted = frame.copy()
    for column in converted.columns:
        if converted[column].map(lambda value: isinstance(value, (dict, list))).any():
            converted[column] = converted[column].map(lambda value: json.dumps(value, default=str) if value is not None else None)
    return converted
