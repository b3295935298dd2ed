"""``exp.summary()`` on 100,000 stored runs: read from DuckDB, scores joined, statistics computed.

    python bench/bench_summary.py [--rows 5000] [--variants 4] [--repeats 5]

The runs are written straight into the store (as the runner's bulk writes would) so that the
benchmark measures reading and summarising, not calling a model.
"""

from __future__ import annotations

import argparse
import platform
import random
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from timing import best_seconds

import promptlab_nb as pl
from promptlab_nb.core.ids import new_id, utcnow
from promptlab_nb.store.bulk import insert_records
from promptlab_nb.store.models import Run, Score


def stored_experiment(lab: pl.Lab, rows: int, variants: int, repeats: int) -> pl.Experiment:
    names = [f"variant_{index}" for index in range(variants)]
    for name in names:
        lab.templates.save(name, f"{name}: {{{{ question }}}}", model="mock:echo")
    data = [{"question": f"question {index}", "topic": f"topic {index % 50}"} for index in range(rows)]
    experiment = lab.plan(names, data, repeats=repeats, name="large")
    runs, scores = synthetic_results(experiment, rows, repeats)
    with lab.db.connection() as connection:
        insert_records(connection, Run.__table__, runs)
        insert_records(connection, Score.__table__, scores)
    return experiment


def synthetic_results(experiment: pl.Experiment, rows: int, repeats: int) -> tuple[list[dict], list[dict]]:
    record = experiment.record
    runs, scores = [], []
    for position, variant in enumerate(record.variants):
        for row in range(rows):
            for repeat in range(repeats):
                run_id = new_id()
                runs.append(
                    {
                        "id": run_id,
                        "experiment_id": record.id,
                        "variant_id": variant.id,
                        "row_index": row,
                        "repeat": repeat,
                        "status": "ok",
                        "mode": "live",
                        "messages": [{"role": "user", "content": f"question {row}"}],
                        "output": f"answer {row}",
                        "parsed": None,
                        "error": None,
                        "failed_step": None,
                        "latency_ms": random.uniform(20, 900),
                        "input_tokens": 12,
                        "output_tokens": 7,
                        "cost": 0.000006,
                        "cache_hit": False,
                        "request_id": None,
                        "started_at": utcnow(),
                        "finished_at": utcnow(),
                    }
                )
                passed = random.random() < 0.6 + 0.05 * position
                scores.append(
                    {
                        "id": new_id(),
                        "experiment_id": record.id,
                        "run_id": run_id,
                        "evaluator": "contains:answer",
                        "value": float(passed),
                        "passed": passed,
                        "reason": None,
                        "error": None,
                        "cost": None,
                        "created_at": utcnow(),
                    }
                )
    return runs, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        lab = pl.Lab(Path(folder) / "summary.duckdb")
        experiment = stored_experiment(lab, options.rows, options.variants, options.repeats)
        total = options.rows * options.variants * options.repeats
        runs_seconds = best_seconds(lambda: experiment.runs, rounds=3)
        summary_seconds = best_seconds(experiment.summary, rounds=3)
        clustered_seconds = best_seconds(lambda: experiment.summary(cluster="topic"), rounds=3)
        lab.close()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, Python {platform.python_version()}")
    print(
        f"{total:,} stored runs: exp.runs {runs_seconds:.2f} s, exp.summary() {summary_seconds:.2f} s, "
        f"exp.summary(cluster='topic') {clustered_seconds:.2f} s"
    )


if __name__ == "__main__":
    main()
