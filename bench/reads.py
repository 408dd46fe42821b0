"""What the router adds, and what the read paths sustain: `me` and a page of events.

- Added latency (one request at a time, wrk -c1, medians): `me` through the router
  against the same query straight to the users subgraph; the cross-subgraph
  `events(first: 20) { … organizer { name } }` through the router against the sum of
  its two subgraph calls made directly (the events page, then the organizers'
  `_entities` from the users subgraph, as the router's plan does).
- Throughput through the router at `--concurrency` requests in flight (wrk).

Every request carries its own token (the router merges identical requests in flight),
and next to each figure is the CPU each process spent per request, from /proc. With
`--baseline DIR` the same runs go alternately to a stack started from that checkout (or,
with `--before-env KEY=VALUE` / `--after-env KEY=VALUE`, to two stacks of this checkout
with different settings).

    .venv/bin/python -m bench.reads [--baseline DIR] [--rounds 3] [--seconds 5]
"""

import argparse
import asyncio
import os
import platform
import statistics
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from bench.load import (
    CpuMeter,
    StackUnderTest,
    WrkResult,
    add_comparison_arguments,
    cpu_ms_per_request,
    run_wrk,
    stacks_to_compare,
)
from tests.support.events import published_event
from tests.support.graphql import GraphQLClient
from tests.support.users import sign_up, with_role

ME = "query Me { me { id name email profile { headline skills } } }"
PAGE = """query Page { events(first: 20) { edges { node {
  id title startsAt seatsTaken seatsLeft organizer { name } } } } }"""
PAGE_DIRECT = """query Page { events(first: 20) { edges { node {
  id title startsAt seatsTaken seatsLeft organizer { id } } } } }"""
ENTITIES = """query Entities($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on User { name } } }"""


@dataclass
class Fixture:
    """People with tokens, and 20 published events by 5 organizers."""

    people: list[str]
    organizers: list[str]


async def fixture(stack: StackUnderTest) -> Fixture:
    api = GraphQLClient(stack.router_url)
    try:
        people = [await sign_up(api, f"Reader {n}") for n in range(20)]
        organizers = [
            await with_role(api, stack.database_url, "organizer", f"Organizer {n}")
            for n in range(5)
        ]
        for n in range(20):
            await published_event(api, organizers[n % 5], title=f"Bench event {n}")
    finally:
        await api.close()
    return Fixture([p.id for p in people], [o.id for o in organizers])


@dataclass
class Measure:
    name: str
    target: str  # "router" or a subgraph
    body: dict[str, Any]
    connections: int


def measures(fixture: Fixture, concurrency: int) -> list[Measure]:
    representations = [{"__typename": "User", "id": fixture.organizers[n % 5]} for n in range(20)]
    return [
        Measure("me, direct", "users", {"query": ME}, 1),
        Measure("me, router", "router", {"query": ME}, 1),
        Measure("events page, events direct", "events", {"query": PAGE_DIRECT}, 1),
        Measure("events page, users _entities direct", "users",
                {"query": ENTITIES, "variables": {"representations": representations}}, 1),
        Measure("events page, router", "router", {"query": PAGE}, 1),
        Measure(f"me, router, {concurrency} in flight", "router", {"query": ME}, concurrency),
        Measure(f"events page, router, {concurrency} in flight", "router",
                {"query": PAGE}, concurrency),
    ]  # fmt: skip


@dataclass
class Run:
    stack: str
    measure: str
    result: WrkResult
    cpu_ms: dict[str, float]


def run(stack: StackUnderTest, fixture: Fixture, measure: Measure, seconds: int) -> Run:
    url = stack.router_url if measure.target == "router" else stack.urls[measure.target]
    tokens = stack.tokens(4000, people=fixture.people)
    meter = CpuMeter(stack)
    meter.start()
    result = run_wrk(url, measure.body, tokens, connections=measure.connections, seconds=seconds)
    spent = meter.stop()
    if result.errors:
        raise SystemExit(f"{stack.label} {measure.name}: {result.errors} errors, "
                         f"e.g. {result.error_sample}")  # fmt: skip
    return Run(stack.label, measure.name, result, cpu_ms_per_request(spent, result.requests))


def report(runs: list[Run], args: argparse.Namespace) -> None:
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}, {len(os.sched_getaffinity(0))} cores, "
          f"load average {os.getloadavg()[0]:.1f} at the end")  # fmt: skip
    print(f"{args.seconds} s per run, {args.rounds} rounds alternating; medians over rounds")
    grouped: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for one in runs:
        grouped[(one.stack, one.measure)].append(one)
    names = sorted({name for one in runs for name in one.cpu_ms})
    print(f"{'stack':<8}{'measure':<40}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}  CPU ms/request: "
          + " ".join(f"{n:>9}" for n in names))  # fmt: skip
    p50: dict[tuple[str, str], float] = {}
    for (stack, measure), group in grouped.items():
        rate = statistics.median(one.result.per_second for one in group)
        p50[(stack, measure)] = statistics.median(one.result.p50_ms for one in group)
        p99 = statistics.median(one.result.p99_ms for one in group)
        cpu = {n: statistics.median(one.cpu_ms.get(n, 0.0) for one in group) for n in names}
        print(f"{stack:<8}{measure:<40}{rate:>8.0f}{p50[(stack, measure)]:>8.2f}{p99:>8.2f}"
              "  " + " " * 16 + " ".join(f"{cpu[n]:>9.2f}" for n in names))  # fmt: skip
    for stack in sorted({one.stack for one in runs}):
        me = p50[(stack, "me, router")] - p50[(stack, "me, direct")]
        page = p50[(stack, "events page, router")] - (
            p50[(stack, "events page, events direct")]
            + p50[(stack, "events page, users _entities direct")]
        )
        print(f"{stack}: router added latency (p50): me {me:.2f} ms, events page {page:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_comparison_arguments(parser)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    runs: list[Run] = []
    with ExitStack() as running:
        stacks = stacks_to_compare(running, args)
        fixtures = {stack.label: asyncio.run(fixture(stack)) for stack in stacks}
        for stack in stacks:  # warm-up: connections, caches
            for measure in measures(fixtures[stack.label], args.concurrency):
                run(stack, fixtures[stack.label], measure, 1)
        for _ in range(args.rounds):
            for stack in stacks:
                for measure in measures(fixtures[stack.label], args.concurrency):
                    runs.append(run(stack, fixtures[stack.label], measure, args.seconds))
    report(runs, args)


if __name__ == "__main__":
    main()
