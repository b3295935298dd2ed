"""Batch mode end to end: 250 rows x 2 models (OpenAI, Anthropic) x 2 repeats = 1,000 runs through the
real SDKs against the loopback fakes of tests/fakes/, across a simulated kernel restart.

Run from the repository root: ``python bench/bench_batches.py [--store PATH]``. Prints the wall time of
each phase: submit (render, upload, create batches), an early refresh (batches still running), and
after a new Lab opens the same store, the refresh that stores all 1,000 runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.server import FakeServer  # noqa: E402

import promptlab_nb as pl  # noqa: E402

MODELS = {"openai": "openai:gpt-4o-mini", "anthropic": "anthropic:claude-haiku-4-5"}


def open_lab(url: str, server: FakeServer) -> pl.Lab:
    lab = pl.Lab(url)
    lab.settings.providers = {
        "openai": {"api_key": "sk-bench", "base_url": server.openai_base_url},
        "anthropic": {"api_key": "sk-ant-bench", "base_url": server.url},
    }
    return lab


def timed(label: str, action):
    started = time.perf_counter()
    result = action()
    print(f"{label:<40} {time.perf_counter() - started:7.2f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", default=str(Path(tempfile.mkdtemp()) / "bench.duckdb"))
    parser.add_argument("--rows", type=int, default=250)
    arguments = parser.parse_args()
    url = f"duckdb:///{arguments.store}"
    rows = [{"country": f"country {index}"} for index in range(arguments.rows)]
    with FakeServer() as server:
        server.batches.polls_to_finish = 2
        total = time.perf_counter()
        first = open_lab(url, server)
        for provider, model in MODELS.items():
            first.templates.save(f"capital_{provider}", "What is the capital of {{ country }}?", model=model)
        experiment = timed(
            "submit",
            lambda: first.compare(
                ["capital_openai", "capital_anthropic"], rows, repeats=2, mode="batch", name="bench", progress=False
            ),
        )
        timed("refresh while running", lambda: experiment.refresh(progress=False))
        first.close()
        second = timed("new Lab on the same store", lambda: open_lab(url, server))
        timed("refresh: store every run", lambda: second.experiment("bench").refresh(progress=False))
        timed("refresh again (nothing new)", lambda: second.experiment("bench").refresh(progress=False))
        runs = second.experiment("bench").runs
        print(f"{'total':<40} {time.perf_counter() - total:7.2f} s")
        print(f"runs {len(runs)}, ok {(runs['status'] == 'ok').sum()}, cost ${runs['cost'].sum():.6f}")
        second.close()


if __name__ == "__main__":
    main()
