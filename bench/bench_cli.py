"""How long the ``promptlab`` command takes, process start included.

    python bench/bench_cli.py [--rounds 5] [--rows 1000]

1. ``promptlab --help``: the command must stay light (its subcommands are imported on demand).
2. ``promptlab run`` of an experiment file of ``--rows`` rows whose every run is already in the
   response cache (a CI job re-running an unchanged experiment): a new experiment is planned,
   stored, answered from the cache, scored, summarised and its threshold checked.

Each round is a new process, timed from outside. Prints the median and the slowest round.
"""

from __future__ import annotations

import argparse
import csv
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

EXPERIMENT = """
name: cached
templates:
  - name: echo_country
    body: "{{ country }}"
models: [mock:echo]
data: rows.csv
evaluators: ["equals:expected"]
thresholds: ["equals:expected >= 0.9"]
"""


def command_seconds(folder: Path, *args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "promptlab_nb", *args], cwd=folder, check=True, capture_output=True)
    return time.perf_counter() - started


def prepare(folder: Path, rows: int) -> None:
    with open(folder / "rows.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["country", "expected"])
        writer.writerows([f"country {index}", f"country {index}"] for index in range(rows))
    (folder / "experiment.yaml").write_text(EXPERIMENT, encoding="utf-8")
    command_seconds(folder, "run", "experiment.yaml", "--store", "store.duckdb")


def report(label: str, seconds: list[float]) -> None:
    print(f"{label}: median {statistics.median(seconds):.2f} s, slowest {max(seconds):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        prepare(folder, options.rows)
        help_seconds = [command_seconds(folder, "--help") for _ in range(options.rounds)]
        run_seconds = [
            command_seconds(folder, "run", "experiment.yaml", "--store", "store.duckdb") for _ in range(options.rounds)
        ]
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, Python {platform.python_version()}")
    report("promptlab --help", help_seconds)
    report(f"promptlab run, {options.rows} runs all cached", run_seconds)


if __name__ == "__main__":
    main()
