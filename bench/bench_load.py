"""How long ``%load_ext promptlab_nb`` takes in a fresh IPython, and what it imports.

    python bench/bench_load.py [--rounds 7]

Each round starts a new Python process with IPython already imported (as in a kernel), then
times the extension load alone. Prints the median and the slowest round.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from datetime import UTC, datetime

ROUND = """
import json, sys, time
from IPython.testing import globalipapp
globalipapp.start_ipython()
shell = globalipapp.get_ipython()
started = time.perf_counter()
shell.run_line_magic("load_ext", "promptlab_nb")
seconds = time.perf_counter() - started
HEAVY = ("openai", "anthropic", "google.genai", "pandas", "sqlalchemy", "duckdb", "scipy")
heavy = [name for name in HEAVY if name in sys.modules]
print(json.dumps({"seconds": seconds, "imported": heavy}))
"""


def one_round() -> dict:
    completed = subprocess.run([sys.executable, "-c", ROUND], capture_output=True, text=True, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    rounds = [one_round() for _ in range(parser.parse_args().rounds)]
    seconds = [item["seconds"] for item in rounds]
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, Python {platform.python_version()}")
    print(
        f"%load_ext promptlab_nb: median {statistics.median(seconds) * 1000:.0f} ms, "
        f"slowest {max(seconds) * 1000:.0f} ms"
    )
    print(f"heavy modules imported by the load: {rounds[0]['imported'] or 'none'}")


if __name__ == "__main__":
    main()
