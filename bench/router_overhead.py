"""What the router costs: the same `me` query sent straight to the users subgraph and
through the router, alternately in one run, so both see the same machine load.

    .venv/bin/python -m bench.router_overhead [--requests 2000]

With `--tracing`, what tracing costs instead: two private stacks side by side, one with
tracing off (no endpoint: the default), one tracing every request (100 % sampling) to
the local collector; the same query through each router, alternately, with the CPU
each process spent per request (from /proc).

    .venv/bin/python -m bench.router_overhead --tracing [--requests 2000]
"""

import argparse
import asyncio
import os
import platform
import time

import httpx

from bench.load import _tree_cpu
from bench.support import private_stack, summary_ms
from tests.support.graphql import GraphQLClient
from tests.support.users import sign_up
from tools.stack import Stack

QUERY = "query Me { me { id name email profile { headline skills } } }"


async def token_for(router_url: str) -> str:
    api = GraphQLClient(router_url)
    person = await sign_up(api, "Bench")
    await api.close()
    return person.token


async def measure(targets: dict[str, tuple[str, str]], requests: int) -> dict[str, list[float]]:
    """Latencies of the query sent to each target (name: (url, token)), alternately."""
    timings: dict[str, list[float]] = {name: [] for name in targets}
    async with httpx.AsyncClient() as client:

        async def send(url: str, token: str) -> httpx.Response:
            headers = {"authorization": f"Bearer {token}"}
            return await client.post(url, json={"query": QUERY}, headers=headers)

        for url, token in targets.values():  # warm up connections and caches
            for _ in range(50):
                (await send(url, token)).raise_for_status()
        for _ in range(requests):
            for name, (url, token) in targets.items():
                started = time.perf_counter()
                response = await send(url, token)
                timings[name].append(time.perf_counter() - started)
                assert "errors" not in response.json(), response.text
    return timings


def print_machine(requests: int, order: str) -> None:
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}, {len(os.sched_getaffinity(0))} cores")  # fmt: skip
    print(f"requests: {requests} each, sequential, alternating {order}")


def print_latencies(timings: dict[str, list[float]]) -> dict[str, float]:
    print(f"{'path':<18} {'median ms':>10} {'p99 ms':>10}")
    medians = {}
    for name, samples in timings.items():
        median, p99 = summary_ms(samples)
        medians[name] = median
        print(f"{name:<18} {median:>10.2f} {p99:>10.2f}")
    return medians


def process_cpu(stack: Stack) -> dict[str, float]:
    """CPU seconds each process of the stack has used so far."""
    return {process.name: _tree_cpu(process.popen.pid) for process in stack.processes}


def compare_tracing(requests: int) -> None:
    with (
        private_stack(traced=False) as (off, off_stack),
        private_stack(traced=True) as (
            on,
            on_stack,
        ),
    ):
        targets = {
            "tracing off": (off.router_url, asyncio.run(token_for(off.router_url))),
            "tracing on 100%": (on.router_url, asyncio.run(token_for(on.router_url))),
        }
        before = {"tracing off": process_cpu(off_stack), "tracing on 100%": process_cpu(on_stack)}
        timings = asyncio.run(measure(targets, requests))
        after = {"tracing off": process_cpu(off_stack), "tracing on 100%": process_cpu(on_stack)}
    print_machine(requests, "tracing off / tracing on")
    medians = print_latencies(timings)
    added = medians["tracing on 100%"] / medians["tracing off"] - 1
    print(f"added median latency with tracing on: {added * 100:+.1f} %")
    print("CPU per request (ms), by process (warm-up requests excluded):")
    for label, spent_before in before.items():
        per_process = {
            name: (after[label][name] - cpu) * 1000 / requests for name, cpu in spent_before.items()
        }
        total = sum(per_process.values())
        cells = ", ".join(f"{name} {ms:.2f}" for name, ms in per_process.items())
        print(f"  {label:<16} total {total:.2f}: {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--tracing", action="store_true", help="tracing off vs on instead")
    args = parser.parse_args()
    if args.tracing:
        compare_tracing(args.requests)
        return
    with private_stack() as (environment, _):
        token = asyncio.run(token_for(environment.router_url))
        targets = {
            "direct": (environment.config.url("users"), token),
            "router": (environment.router_url, token),
        }
        timings = asyncio.run(measure(targets, args.requests))
    print_machine(args.requests, "direct/router")
    medians = print_latencies(timings)
    direct_p99, router_p99 = (summary_ms(timings[name])[1] for name in ("direct", "router"))
    print(f"ratio router/direct: median {medians['router'] / medians['direct']:.2f}x, "
          f"p99 {router_p99 / direct_p99:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
