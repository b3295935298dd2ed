"""CPU and wall time of provider calls through each SDK path and the raw path, against the loopback fake server.

    python bench/bench_providers.py [--calls 2000] [--concurrency 50] [--latency 0.05] [--paths raw,openai]

The fake answers every call after a fixed latency, in a separate process, so the CPU time
measured here is the client's alone: SDK, transport and promptlab_nb's provider layer. The
fake's own CPU time (read from /proc, so Linux only) shows when the server, not the client,
holds the wall time back. The ideal wall time is calls x latency / concurrency. Prints a
Markdown table for bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from promptlab_nb.engine.providers import ChatRequest, ModelSpec, ProviderRegistry

TESTS = Path(__file__).resolve().parents[1] / "tests"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
Options = Callable[[str], dict[str, dict[str, Any]]]


def openai_at(transport: str) -> Options:
    return lambda url: {"openai": {"api_key": "sk-bench", "base_url": f"{url}/v1", "transport": transport}}


def compatible_at(url: str) -> dict[str, dict[str, Any]]:
    return {"openai-compatible": {"base_url": f"{url}/v1"}}


def anthropic_at(transport: str) -> Options:
    return lambda url: {"anthropic": {"api_key": "sk-ant-bench", "base_url": url, "transport": transport}}


PATHS: dict[str, tuple[str, Options]] = {
    "openai-compatible, raw (default)": ("openai-compatible:qwen2.5-7b-instruct", compatible_at),
    "openai, raw": ("openai:gpt-4o-mini", openai_at("raw")),
    "openai, aiohttp (ours)": ("openai:gpt-4o-mini", openai_at("aiohttp")),
    "openai, httpx (SDK default)": ("openai:gpt-4o-mini", openai_at("httpx")),
    "anthropic, aiohttp (ours)": ("anthropic:claude-haiku-4-5", anthropic_at("aiohttp")),
    "anthropic, httpx (SDK default)": ("anthropic:claude-haiku-4-5", anthropic_at("httpx")),
    "gemini, google-genai (aiohttp)": (
        "gemini:gemini-2.5-flash",
        lambda url: {"gemini": {"api_key": "gm-bench", "base_url": url}},
    ),
}


@dataclass
class Measurement:
    path: str
    calls: int
    cpu_seconds: float
    server_cpu_seconds: float
    wall_seconds: float
    ideal_seconds: float

    def row(self) -> str:
        cells = [
            self.path,
            str(self.calls),
            f"{self.cpu_seconds / self.calls * 1000:.2f}",
            f"{self.server_cpu_seconds:.2f}",
            f"{self.wall_seconds:.2f}",
            f"{self.ideal_seconds:.2f}",
            f"{self.wall_seconds / self.ideal_seconds:.2f}x",
        ]
        return "| " + " | ".join(cells) + " |"


@dataclass
class FakeProcess:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        user_ticks, system_ticks = int(fields[11]), int(fields[12])
        return (user_ticks + system_ticks) / os.sysconf("SC_CLK_TCK")


@contextmanager
def fake_server(latency: float) -> Iterator[FakeProcess]:
    server = subprocess.Popen(
        [sys.executable, "-m", "fakes", "--latency", str(latency)],
        cwd=TESTS,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield FakeProcess(server.stdout.readline().strip(), server.pid)
    finally:
        server.stdin.close()
        server.wait(timeout=30)


async def measure(path: str, server: FakeProcess, calls: int, concurrency: int, latency: float) -> Measurement:
    spec, options = PATHS[path]
    model = ModelSpec.parse(spec)
    registry = ProviderRegistry(options(server.url))
    provider = registry.get(model.provider)
    request = ChatRequest(messages=QUESTION, model=model.model, params={"max_tokens": 20})
    gate = asyncio.Semaphore(concurrency)

    async def one_call() -> None:
        async with gate:
            await provider.complete(request)

    await asyncio.gather(*(one_call() for _ in range(concurrency)))
    cpu_started, server_started, wall_started = time.process_time(), server.cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(one_call() for _ in range(calls)))
    wall = time.perf_counter() - wall_started
    cpu, server_cpu = time.process_time() - cpu_started, server.cpu_seconds() - server_started
    await registry.aclose()
    return Measurement(path, calls, cpu, server_cpu, wall, calls * latency / concurrency)


def machine() -> str:
    sdks = ", ".join(f"{name} {version(name)}" for name in ("openai", "anthropic", "google-genai", "aiohttp"))
    return f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}; {sdks}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the fake waits before answering")
    parser.add_argument("--paths", default="", help="comma-separated words a path's name must contain, e.g. raw")
    arguments = parser.parse_args()
    words = [word.strip() for word in arguments.paths.split(",") if word.strip()]
    paths = [path for path in PATHS if not words or any(word in path for word in words)]
    with fake_server(arguments.latency) as server:
        results = [
            asyncio.run(measure(path, server, arguments.calls, arguments.concurrency, arguments.latency))
            for path in paths
        ]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}; load average {load}")
    latency_ms = arguments.latency * 1000
    print(f"{arguments.calls} calls, concurrency {arguments.concurrency}, fake latency {latency_ms:.0f} ms\n")
    print("| path | calls | client CPU ms per call | fake server CPU s | wall s | ideal wall s | wall / ideal |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for result in results:
        print(result.row())


if __name__ == "__main__":
    main()
