"""Does sharding an experiment's calls across worker processes pay on this machine?

    python bench/bench_workers.py [--calls 10000] [--concurrency 200] [--latency 0.05] [--workers 1,2]

Sends ``--calls`` chat calls through the raw path (``openai-compatible:``, one pooled aiohttp session per
process) to the loopback fake, which answers after ``--latency`` seconds in a process of its own. With N
workers, N processes each send their share with their own event loop, at their share of the concurrency,
and send every response back to this process, which would be the store's single writer. "cold" counts
starting the processes (importing promptlab_nb in each); "warm" reuses a pool already started, as a
kernel that keeps its workers would. CPU is the sum over this process and the workers; the fake's CPU is
read apart. Prints a Markdown table for bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

from bench_providers import fake_server

from promptlab_nb.engine.providers import ChatRequest, ProviderRegistry

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


async def _send_share(url: str, calls: int, concurrency: int) -> list[tuple[str, int | None, int | None, float | None]]:
    registry = ProviderRegistry({"openai-compatible": {"base_url": f"{url}/v1"}})
    provider = registry.get("openai-compatible")
    request = ChatRequest(QUESTION, "qwen2.5-7b-instruct", {"max_tokens": 20})
    gate = asyncio.Semaphore(concurrency)

    async def one_call() -> tuple[str, int | None, int | None, float | None]:
        async with gate:
            response = await provider.complete(request)
        return response.text, response.input_tokens, response.output_tokens, response.latency_ms

    try:
        return await asyncio.gather(*(one_call() for _ in range(calls)))
    finally:
        await registry.aclose()


def send_share(url: str, calls: int, concurrency: int) -> tuple[float, list]:
    """One worker's share: its CPU seconds and the responses, as they would travel to the writer."""
    started = time.process_time()
    responses = asyncio.run(_send_share(url, calls, concurrency))
    return time.process_time() - started, responses


def shards(calls: int, workers: int) -> list[int]:
    return [calls // workers + (1 if index < calls % workers else 0) for index in range(workers)]


def measure_in_process(url: str, calls: int, concurrency: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    asyncio.run(_send_share(url, calls, concurrency))
    return time.perf_counter() - wall, time.process_time() - cpu


def measure_pool(
    pool: ProcessPoolExecutor, url: str, calls: int, concurrency: int, workers: int
) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    futures = [pool.submit(send_share, url, share, concurrency // workers) for share in shards(calls, workers)]
    results = [future.result() for future in futures]
    received = sum(len(responses) for _, responses in results)
    assert received == calls, f"{received} responses for {calls} calls"
    return time.perf_counter() - wall, time.process_time() - cpu + sum(cpu for cpu, _ in results)


def row(label: str, calls: int, ideal: float, wall: float, cpu: float, server_cpu: float) -> str:
    return (
        f"| {label} | {calls:,} | {wall:.2f} s ({wall / ideal:.2f}x) | {cpu * 1000 / calls:.2f} ms | "
        f"{server_cpu:.2f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--workers", default="1,2")
    options = parser.parse_args()
    ideal = options.calls * options.latency / options.concurrency
    lines = [
        f"| how | calls | wall (x ideal {ideal:.2f} s) | CPU per call, all processes | fake server CPU |",
        "|---|---:|---:|---:|---:|",
    ]
    context = multiprocessing.get_context("spawn")
    with fake_server(options.latency) as server:
        measure_in_process(server.url, options.concurrency, options.concurrency)
        fake_cpu = server.cpu_seconds()
        wall, cpu = measure_in_process(server.url, options.calls, options.concurrency)
        lines.append(row("one process, one loop", options.calls, ideal, wall, cpu, server.cpu_seconds() - fake_cpu))
        for workers in (int(count) for count in options.workers.split(",")):
            fake_cpu, started = server.cpu_seconds(), time.perf_counter()
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                wall, cpu = measure_pool(pool, server.url, options.calls, options.concurrency, workers)
                cold = time.perf_counter() - started
                lines.append(
                    row(f"{workers} workers, cold", options.calls, ideal, cold, cpu, server.cpu_seconds() - fake_cpu)
                )
                fake_cpu = server.cpu_seconds()
                wall, cpu = measure_pool(pool, server.url, options.calls, options.concurrency, workers)
                lines.append(
                    row(f"{workers} workers, warm", options.calls, ideal, wall, cpu, server.cpu_seconds() - fake_cpu)
                )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average {load}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
