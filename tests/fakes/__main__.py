"""``python -m fakes --latency 0.05`` (from tests/): serve the fakes in this process until stdin closes.

The first line printed is the server's URL. The benchmark runs the server this way so that
the client's CPU time is measured apart from the server's.
"""

from __future__ import annotations

import argparse
import sys

from fakes.script import Script
from fakes.server import FakeServer


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m fakes", description=__doc__)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    arguments = parser.parse_args()
    with FakeServer(Script(latency=arguments.latency)) as server:
        print(server.url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
