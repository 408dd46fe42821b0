"""What the router costs: the same `me` query sent straight to the users subgraph and
through the router, alternately in one run, so both see the same machine load.

    .venv/bin/python -m bench.router_overhead [--requests 2000]
"""

import argparse
import asyncio
import os
import platform
import time

import httpx

from bench.support import private_stack, summary_ms
from tests.support.graphql import GraphQLClient
from tests.support.users import sign_up

QUERY = "query Me { me { id name email profile { headline skills } } }"


async def measure(direct_url: str, router_url: str, requests: int) -> dict[str, list[float]]:
    api = GraphQLClient(router_url)
    person = await sign_up(api, "Bench")
    await api.close()
    headers = {"authorization": f"Bearer {person.token}"}
    timings: dict[str, list[float]] = {"direct": [], "router": []}
    async with httpx.AsyncClient(headers=headers) as client:
        for url in (direct_url, router_url):  # warm up connections and caches
            for _ in range(50):
                (await client.post(url, json={"query": QUERY})).raise_for_status()
        for _ in range(requests):
            for name, url in (("direct", direct_url), ("router", router_url)):
                started = time.perf_counter()
                response = await client.post(url, json={"query": QUERY})
                timings[name].append(time.perf_counter() - started)
                assert "errors" not in response.json(), response.text
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with private_stack() as (environment, _):
        timings = asyncio.run(
            measure(environment.config.url("users"), environment.router_url, args.requests)
        )
    direct_median, direct_p99 = summary_ms(timings["direct"])
    router_median, router_p99 = summary_ms(timings["router"])
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}, {len(os.sched_getaffinity(0))} cores")  # fmt: skip
    print(f"requests: {args.requests} each, sequential, alternating direct/router")
    print(f"{'path':<8} {'median ms':>10} {'p99 ms':>10}")
    print(f"{'direct':<8} {direct_median:>10.2f} {direct_p99:>10.2f}")
    print(f"{'router':<8} {router_median:>10.2f} {router_p99:>10.2f}")
    print(f"ratio router/direct: median {router_median / direct_median:.2f}x, "
          f"p99 {router_p99 / direct_p99:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
