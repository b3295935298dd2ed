"""``exp.summary()`` on a large stored experiment, computed in the store: per-variant figures aggregated in
SQL, the statistics fed one mean per (variant, row) of each score. By default 2 variants x 500,000 rows =
1,000,000 runs on DuckDB (bench/synthetic_store.py writes them with SQL, not through the runner).

    .venv/bin/python bench/bench_summary.py [--rows 500000] [--variants 2] [--repeats 1]
    .venv/bin/python bench/bench_summary.py --postgres --rows 50000   # PostgreSQL, straight after writing

Exits 1 when the summary takes more than 1 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from synthetic_store import header, postgres_schema_url, stored_experiment, timed

import promptlab_nb as pl

BUDGET_SECONDS = 1.0


def processor_seconds(work) -> float:
    started = time.process_time()
    work()
    return time.process_time() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--variants", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--postgres", action="store_true", help="write and summarise in a fresh PostgreSQL schema")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = postgres_schema_url("bench_summary") if options.postgres else Path(folder) / "summary.duckdb"
        lab = pl.Lab(url)
        experiment, write_seconds = timed(
            lambda: stored_experiment(lab, options.rows, options.variants, options.repeats)
        )
        _, first = timed(experiment.summary)
        best = min(timed(experiment.summary)[1] for _ in range(3))
        cpu = min(processor_seconds(experiment.summary) for _ in range(3))
        clustered = min(timed(lambda: experiment.summary(cluster="topic"))[1] for _ in range(3))
        lab.close()
    print(header(options.postgres, options.rows, options.variants, options.repeats))
    print(f"written with SQL in {write_seconds:.2f} s")
    print(f"exp.summary(): first {first:.2f} s, best of 3 {best:.2f} s; cluster='topic' best of 3 {clustered:.2f} s")
    print(f"exp.summary(): this process's CPU time (DuckDB's threads included, not PostgreSQL's server), {cpu:.2f} s")
    return 0 if best <= BUDGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
