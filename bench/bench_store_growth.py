"""Store growth: what a million runs take on disk in DuckDB, and what pruning the cache and vacuuming give back.

    python bench/bench_store_growth.py [--runs 1000000] [--variants 4] [--chunk 50000]

Runs are written straight into the store with the engine's bulk insert (Arrow), as the runner's sink
writes them, not through the runner: each run has its rendered prompt (about 90 characters), an output
of about 40 words, one score and one cache entry holding its response. Prints a Markdown table for
bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import promptlab_nb as pl
from promptlab_nb.core.ids import new_id, utcnow
from promptlab_nb.core.vocabulary import Mode, RunStatus
from promptlab_nb.engine.run_rows import RunRecord
from promptlab_nb.engine.sink import RunRecords
from promptlab_nb.store.bulk import insert_records
from promptlab_nb.store.database import duckdb_file
from promptlab_nb.store.models import ExperimentRow

SENTENCE = "the capital city of this country is well known for its long history and its river "


def stored_plan(lab: pl.Lab, variants: int, rows: int) -> tuple[str, list[str]]:
    """An experiment of ``variants`` templates over ``rows`` data rows, stored without runs."""
    names = [f"variant_{index}" for index in range(variants)]
    for name in names:
        lab.templates.save(name, f"{name}: what is the capital of {{{{ country }}}}?", model="mock:echo")
    experiment = lab.plan(names, [{"country": "country 0"}], name="growth")
    record = experiment.record
    with lab.db.connection() as connection:
        data_rows = [
            {"experiment_id": record.id, "row_index": index, "inputs": {"country": f"country {index}"}}
            for index in range(1, rows)
        ]
        insert_records(connection, ExperimentRow.__table__, data_rows)
    return record.id, [variant.id for variant in record.variants]


def chunk_of_runs(experiment_id: str, variant_ids: list[str], start: int, stop: int) -> RunRecords:
    records = RunRecords()
    now = utcnow()
    for index in range(start, stop):
        variant, row = index % len(variant_ids), index // len(variant_ids)
        prompt = f"variant_{variant}: what is the capital of country {row}?"
        response = {
            "text": f"answer {index} {SENTENCE}{SENTENCE}{SENTENCE}",
            "parsed": None,
            "finish_reason": "stop",
            "input_tokens": 12,
            "output_tokens": 40,
            "latency_ms": 412.5,
            "cost": 0.0000060,
            "request_id": f"req-{index}",
        }
        run = RunRecord(
            id=new_id(),
            experiment_id=experiment_id,
            variant_id=variant_ids[variant],
            row_index=row,
            repeat=0,
            status=RunStatus.OK,
            mode=Mode.LIVE,
            messages=[{"role": "user", "content": prompt}],
            output=response["text"],
            parsed=None,
            error=None,
            failed_step=None,
            latency_ms=412.5,
            input_tokens=12,
            output_tokens=40,
            cost=0.0000060,
            cache_hit=False,
            request_id=response["request_id"],
            started_at=now,
            finished_at=now,
        )
        records.runs.append(run)
        records.scores.append(
            {
                "id": new_id(),
                "experiment_id": experiment_id,
                "run_id": run.id,
                "evaluator": "contains:capital",
                "value": 1.0,
                "passed": True,
                "reason": None,
                "error": None,
                "cost": None,
                "created_at": now,
            }
        )
        records.cache_entries.append(
            {
                "key": hashlib.sha256(prompt.encode()).hexdigest(),
                "provider": "mock",
                "model": "echo",
                "response": response,
                "created_at": now - timedelta(days=60),
            }
        )
    return records


def store_bytes(lab: pl.Lab) -> int:
    file = duckdb_file(lab.db.url)
    assert file is not None
    wal = file.with_name(file.name + ".wal")
    return file.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--chunk", type=int, default=50_000)
    options = parser.parse_args()
    lines = ["| step | wall s | store size |", "|---|---:|---:|"]
    with tempfile.TemporaryDirectory() as folder:
        lab = pl.Lab(Path(folder) / "growth.duckdb")
        experiment_id, variant_ids = stored_plan(lab, options.variants, options.runs // options.variants)
        started = time.perf_counter()
        for start in range(0, options.runs, options.chunk):
            records = chunk_of_runs(experiment_id, variant_ids, start, min(options.runs, start + options.chunk))
            with lab.db.connection() as connection:
                records.write(connection)
        lab.vacuum()
        written = time.perf_counter() - started
        lines.append(
            f"| {options.runs:,} runs, {options.runs:,} scores and cache entries written, then vacuumed | "
            f"{written:.1f} | {store_bytes(lab) / 2**20:,.0f} MB |"
        )
        started = time.perf_counter()
        pruned = lab.cache.prune(older_than="30d")
        lab.vacuum()
        lines.append(
            f'| `lab.cache.prune(older_than="30d")` ({pruned:,} entries), then `lab.vacuum()` | '
            f"{time.perf_counter() - started:.1f} | {store_bytes(lab) / 2**20:,.0f} MB |"
        )
        lab.close()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, load average {load}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
