"""How long the ``promptlab`` command takes, process start included.

    python bench/bench_cli.py [--rounds 5] [--rows 1000] [--compile-each-round]

1. ``promptlab --help``: the command must stay light (its subcommands are imported on demand).
2. ``promptlab run`` of an experiment file of ``--rows`` rows whose every run is already in the
   response cache (a CI job re-running an unchanged experiment): a new experiment is planned,
   stored, answered from the cache, scored, summarised and its threshold checked.

Each round is a new process, timed from outside: its wall time, and its CPU time (user + system, as the
operating system accounts the finished process; steadier than wall time on a shared machine). Prints
the medians and the slowest round.

The rounds read compiled bytecode, as an installed package does (pip compiles it when installing): it is
kept in the temporary folder, whatever ``PYTHONDONTWRITEBYTECODE`` says. ``--compile-each-round``
measures instead a shell with ``PYTHONDONTWRITEBYTECODE=1`` and no bytecode for the checkout, where
every round compiles the package's modules again.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import resource
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


def command_seconds(folder: Path, environment: dict[str, str], *args: str) -> tuple[float, float]:
    """The wall and CPU seconds of ``promptlab ARGS`` in a new process."""
    cpu_before = _children_cpu_seconds()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "promptlab_nb", *args], cwd=folder, env=environment, check=True, capture_output=True
    )
    return time.perf_counter() - started, _children_cpu_seconds() - cpu_before


def command_environment(folder: Path, compile_each_round: bool) -> dict[str, str]:
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    if compile_each_round:
        return environment | {"PYTHONDONTWRITEBYTECODE": "1"}
    return environment | {"PYTHONPYCACHEPREFIX": str(folder / "bytecode")}


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def prepare(folder: Path, environment: dict[str, str], rows: int) -> None:
    with open(folder / "rows.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["country", "expected"])
        writer.writerows([f"country {index}", f"country {index}"] for index in range(rows))
    (folder / "experiment.yaml").write_text(EXPERIMENT, encoding="utf-8")
    command_seconds(folder, environment, "run", "experiment.yaml", "--store", "store.duckdb")


def report(label: str, rounds: list[tuple[float, float]]) -> None:
    wall, cpu = [round_[0] for round_ in rounds], [round_[1] for round_ in rounds]
    print(
        f"{label}: wall median {statistics.median(wall):.2f} s, slowest {max(wall):.2f} s; "
        f"CPU median {statistics.median(cpu):.2f} s, most {max(cpu):.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--compile-each-round", action="store_true", help="No bytecode: compile every round.")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        environment = command_environment(folder, options.compile_each_round)
        prepare(folder, environment, options.rows)
        help_rounds = [command_seconds(folder, environment, "--help") for _ in range(options.rounds)]
        run_rounds = [
            command_seconds(folder, environment, "run", "experiment.yaml", "--store", "store.duckdb")
            for _ in range(options.rounds)
        ]
    bytecode = "compiled every round" if options.compile_each_round else "bytecode cached"
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, Python {platform.python_version()}, {bytecode}"
    )
    print(f"load average {' '.join(f'{load:.1f}' for load in os.getloadavg())}")
    report("promptlab --help", help_rounds)
    report(f"promptlab run, {options.rows} runs all cached", run_rounds)


if __name__ == "__main__":
    main()
