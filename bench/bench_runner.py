"""The experiment runner end to end: the engine alone on the mock model, then the OpenAI wire format
(SDK or raw path) against the loopback fake server; runs stored in DuckDB.

    python bench/bench_runner.py [--mock-rows 5000] [--rows 250] [--variants 4] [--concurrency 50]
                                 [--latency 0.05] [--large-rows 2500] [--large-concurrency 200]
                                 [--transport aiohttp|httpx|raw] [--mock-only]

The mock model (``mock:echo``, one ``contains`` evaluator) answers at once, so its runs per second are
the engine's own cost: rendering, cache keys and lookups, run records, scoring and bulk writes (CPU time,
``time.process_time``, says it also on a shared machine; ``--mock-only`` runs only this part). The fake
server runs in its own process, so the CPU time measured is this process's alone: rendering, the
provider path, the runner, the cache and the bulk writes. Prints Markdown tables for bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench_providers import fake_server

import promptlab_nb as pl
from promptlab_nb.core.ids import new_id, utcnow
from promptlab_nb.store.bulk import insert_records
from promptlab_nb.store.models import Run


def open_lab(folder: Path, url: str, concurrency: int, transport: str) -> pl.Lab:
    lab = pl.Lab(folder / "bench.duckdb")
    lab.settings.providers = {"openai": {"api_key": "sk-bench", "base_url": f"{url}/v1", "transport": transport}}
    lab.settings.concurrency = concurrency
    lab.settings.cost_limit = 0
    return lab


def save_variants(lab: pl.Lab, count: int, model: str = "openai:gpt-4o-mini") -> list[str]:
    names = [f"{model.partition(':')[0]}_variant_{index}" for index in range(count)]
    for index, name in enumerate(names):
        lab.templates.save(name, f"Variant {index}: what is the capital of {{{{ country }}}}?", model=model)
    return names


def mock_lines(folder: Path, rows: int, variants: int) -> list[str]:
    """The engine alone: the mock model with one evaluator, first from scratch, then from the cache."""
    lab = pl.Lab(folder / "mock.duckdb")
    names = save_variants(lab, variants, "mock:echo")
    data = [{"country": f"country {index}"} for index in range(rows)]
    evaluators = ["contains:capital"]
    lab.compare(names, data[:10], name="mock-warm-up", progress=False, evaluators=evaluators)
    runs = rows * variants
    lines = [
        "| mock model, one evaluator | runs | wall | runs/s (wall) | CPU per run | runs/s of CPU |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, name in (("first run", "mock"), ("again, from the cache", "mock-again")):
        wall, cpu, _ = timed(
            lambda name=name: lab.compare(names, data, name=name, progress=False, evaluators=evaluators)
        )
        per_run = f"{cpu * 1e6 / runs:.0f} µs"
        lines.append(f"| {label} | {runs:,} | {wall:.2f} s | {runs / wall:,.0f} | {per_run} | {runs / cpu:,.0f} |")
    lab.close()
    return lines


def timed(action) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def experiment_row(label: str, runs: int, ideal: float, wall: float, cpu: float, calls: int) -> str:
    return (
        f"| {label} | {runs:,} | {ideal:.2f} s | {wall:.2f} s ({wall / ideal:.2f}x) | "
        f"{cpu * 1000 / runs:.2f} ms | {calls:,} |"
    )


def run_experiment(lab: pl.Lab, names: list[str], rows: int, name: str, cache: bool = True):
    data = [{"country": f"country {index}"} for index in range(rows)]
    return timed(lambda: lab.compare(names, data, name=name, cache=cache, progress=False))


def bulk_write_seconds(lab: pl.Lab, count: int) -> float:
    records = [
        {
            "id": new_id(),
            "experiment_id": "bench",
            "variant_id": f"v{index % 4}",
            "row_index": index,
            "repeat": 0,
            "status": "ok",
            "mode": "live",
            "messages": [{"role": "user", "content": f"question {index}"}],
            "output": "The capital of France is Paris.",
            "parsed": None,
            "error": None,
            "failed_step": None,
            "latency_ms": 50.0,
            "input_tokens": 12,
            "output_tokens": 7,
            "cost": 0.0000060,
            "cache_hit": False,
            "request_id": "req",
            "started_at": utcnow(),
            "finished_at": utcnow(),
        }
        for index in range(count)
    ]
    started = time.perf_counter()
    with lab.db.connection() as connection:
        insert_records(connection, Run.__table__, records)
    return time.perf_counter() - started


def print_machine() -> None:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, load average {load}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=250)
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--large-rows", type=int, default=2500)
    parser.add_argument("--large-concurrency", type=int, default=200)
    parser.add_argument("--mock-rows", type=int, default=5000)
    parser.add_argument("--transport", default="aiohttp", choices=["aiohttp", "httpx", "raw"])
    parser.add_argument("--mock-only", action="store_true", help="only the engine on the mock model")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        mock = mock_lines(Path(folder), options.mock_rows, options.variants)
    if options.mock_only:
        print_machine()
        print("\n".join(mock))
        return
    lines = ["| experiment | runs | ideal | wall | CPU per run | provider calls |", "|---|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as folder, fake_server(options.latency) as fake:
        lab = open_lab(Path(folder), fake.url, options.concurrency, options.transport)
        names = save_variants(lab, options.variants)
        wall, cpu, _ = run_experiment(lab, names, 5, "warm-up")
        lines.append(
            f"| first experiment of a session: SDK import and connections | {5 * options.variants} | - | "
            f"{wall:.2f} s | - | {5 * options.variants} |"
        )
        runs = options.rows * options.variants
        ideal = runs * options.latency / options.concurrency
        wall, cpu, experiment = run_experiment(lab, names, options.rows, "first")
        lines.append(
            experiment_row(
                f"{runs:,} runs, concurrency {options.concurrency}",
                runs,
                ideal,
                wall,
                cpu,
                experiment.last_execution.provider_calls,
            )
        )
        wall, cpu, experiment = run_experiment(lab, names, options.rows, "again")
        lines.append(
            f"| same experiment again, from the cache | {runs:,} | - | {wall:.2f} s | "
            f"{cpu * 1000 / runs:.2f} ms | {experiment.last_execution.provider_calls} |"
        )
        lab.settings.concurrency = options.large_concurrency
        large = options.large_rows * options.variants
        ideal = large * options.latency / options.large_concurrency
        wall, cpu, experiment = run_experiment(lab, names, options.large_rows, "large", cache=False)
        lines.append(
            experiment_row(
                f"{large:,} runs, concurrency {options.large_concurrency}",
                large,
                ideal,
                wall,
                cpu,
                experiment.last_execution.provider_calls,
            )
        )
        write = bulk_write_seconds(lab, 10_000)
        lab.close()
    print_machine()
    print("\n".join(mock))
    print(f"\nopenai wire format, transport {options.transport!r}:\n")
    print("\n".join(lines))
    print(f"\n10,000 runs written to DuckDB in one bulk insert: {write:.3f} s")


if __name__ == "__main__":
    main()
