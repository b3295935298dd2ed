"""An application reading a prompt per request: ``lab.templates.get(name, label=...).render(...)``.

    python bench/bench_registry.py [--reads 10000] [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]

On each store: the first read by label (from the store), then ``--reads`` repeated reads by label, of
the latest and of a pinned version (from the process-local cache), each also rendered; for comparison,
reads by label with the cache off (``PromptLab.registry_ttl = 0``), and a render request through the
``promptlab serve`` application in process (its token is checked in the store on every request).
Budget: a cached read and render under 1 ms (the script exits 1 above it).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

import promptlab_nb as pl

BODY = "system:\nYou are a terse assistant.\nuser:\nSummarize in one sentence for {{ audience }}: {{ text }}"
TEXT = "DuckDB is an embedded analytical database; it runs inside the process that queries it. " * 20
BUDGET_MS = 1.0
UNCACHED_READS = 200
SERVED_REQUESTS = 200


def prepared_store(url: str) -> None:
    lab = pl.Lab(url)
    lab.templates.save("summarize", BODY, model="openai:gpt-4o-mini", params={"temperature": 0.2})
    lab.templates.save("summarize", BODY + "\nBe kind.", model="openai:gpt-4o-mini")
    lab.templates.label("summarize", 1, "production")
    lab.close()


@contextmanager
def fresh_schema(server: str) -> Iterator[str]:
    schema = f"bench_registry_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server)
    with admin.begin() as connection:
        connection.execute(text(f"create schema {schema}"))
    try:
        yield f"{server}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"drop schema {schema} cascade"))
        admin.dispose()


def per_call_ms(work: Callable[[], object], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        work()
    return (time.perf_counter() - started) * 1000 / calls


def served_render(lab: pl.Lab) -> Callable[[], object]:
    """One render request through the FastAPI application in process: token check, cached read, render."""
    from fastapi.testclient import TestClient

    from promptlab_nb.api.app_factory import create_app
    from promptlab_nb.services.tokens import TokenService

    with lab.db.session() as session:
        token = TokenService(session).create(f"bench-{uuid.uuid4().hex[:6]}", read_only=True).secret
    client = TestClient(create_app(lab), headers={"Authorization": f"Bearer {token}"})
    body = {"variables": {"audience": "engineers", "text": TEXT}}
    return lambda: client.post("/promptlab/api/templates/summarize/render", params={"label": "production"}, json=body)


def measure(url: str, reads: int) -> dict[str, float]:
    lab = pl.Lab(url)
    started = time.perf_counter()
    lab.templates.get("summarize", label="production")
    figures = {"first read by label": (time.perf_counter() - started) * 1000}
    figures["cached: get by label"] = per_call_ms(lambda: lab.templates.get("summarize", label="production"), reads)
    figures["cached: get latest"] = per_call_ms(lambda: lab.templates.get("summarize"), reads)
    figures["cached: get version 1"] = per_call_ms(lambda: lab.templates.get("summarize", version=1), reads)
    figures["cached: get by label + render"] = per_call_ms(
        lambda: lab.templates.get("summarize", label="production").render(audience="engineers", text=TEXT), reads
    )
    figures["promptlab serve: render request"] = per_call_ms(served_render(lab), SERVED_REQUESTS)
    lab.settings.registry_ttl = 0
    figures["uncached: get by label"] = per_call_ms(
        lambda: lab.templates.get("summarize", label="production"), UNCACHED_READS
    )
    lab.close()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=10_000)
    parser.add_argument("--postgres", help="also measure on this PostgreSQL server, in a schema made and dropped here")
    arguments = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    stores = {"duckdb": f"duckdb:///{Path(tempfile.mkdtemp()) / 'bench.duckdb'}"}
    slowest_cached = 0.0
    with ExitStack() as cleanup:
        if arguments.postgres:
            stores["postgresql"] = cleanup.enter_context(fresh_schema(arguments.postgres))
        for backend, url in stores.items():
            prepared_store(url)
            for name, milliseconds in measure(url, arguments.reads).items():
                print(f"{backend:10} {name:32} {milliseconds:9.4f} ms")
                if name.startswith("cached:"):
                    slowest_cached = max(slowest_cached, milliseconds)
    if slowest_cached > BUDGET_MS:
        print(f"a cached read took {slowest_cached:.3f} ms, above the budget of {BUDGET_MS} ms")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
