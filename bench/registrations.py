"""Registrations under contention, through the router: many people, few seats, one event.

Everyone signs up before the clock starts; then all of them register for the same
event, a bounded number of requests in flight, each `registerForEvent` timed. Every
registration holds the event's row lock, so they apply one at a time: this measures
that queue, router and subgraph included. The gateway deduplicates identical requests
in flight; these are never identical, as each carries its own person's Authorization
token, so every one reaches the events subgraph.

Ends by checking the outcome: exactly `seats` confirmed, everyone else waitlisted in
order, no errors; it exits non-zero otherwise.

    .venv/bin/python -m bench.registrations [--people 1000] [--seats 20] [--concurrency 50]
"""

import argparse
import asyncio
import os
import platform
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from bench.support import private_stack, summary_ms
from tests.support.environment import StackEnvironment
from tests.support.events import REGISTER, SEATS, published_event
from tests.support.graphql import GraphQLClient
from tests.support.users import Person, sign_up, with_role

T = TypeVar("T")


@dataclass
class Outcome:
    wall_seconds: float
    latencies: list[float]
    responses: list[dict[str, Any]]
    seats: dict[str, Any]


async def bounded(limit: int, work: list[Awaitable[T]]) -> list[T]:
    gate = asyncio.Semaphore(limit)

    async def one(task: Awaitable[T]) -> T:
        async with gate:
            return await task

    return list(await asyncio.gather(*(one(task) for task in work)))


async def measure(environment: StackEnvironment, people: int, seats: int, limit: int) -> Outcome:
    api = GraphQLClient(environment.router_url)
    try:
        organizer = await with_role(api, environment.config.database_url, "organizer")
        event_id = await published_event(api, organizer, capacity=seats)
        crowd = await bounded(limit, [sign_up(api, f"Attendee {n}") for n in range(people)])
        # Opens the events subgraph's database connections before the clock starts.
        await bounded(limit, [api.data(SEATS, {"id": event_id}, p.token) for p in crowd[:limit]])

        async def register(person: Person) -> tuple[float, dict[str, Any]]:
            started = time.perf_counter()
            body = await api.execute(REGISTER, {"id": event_id}, person.token)
            return time.perf_counter() - started, body

        started = time.perf_counter()
        timed = await bounded(limit, [register(person) for person in crowd])
        wall_seconds = time.perf_counter() - started
        final = (await api.data(SEATS, {"id": event_id}, organizer.token))["event"]
    finally:
        await api.close()
    return Outcome(wall_seconds, [t for t, _ in timed], [body for _, body in timed], final)


def problems(outcome: Outcome, people: int, seats: int) -> list[str]:
    found = [f"error: {body['errors']}" for body in outcome.responses if body.get("errors")]
    registrations = [
        body["data"]["registerForEvent"] for body in outcome.responses if body.get("data")
    ]
    statuses = Counter(registration["status"] for registration in registrations)
    expected = Counter({"CONFIRMED": seats, "WAITLISTED": people - seats})
    if statuses != expected:
        found.append(f"statuses {dict(statuses)}, expected {dict(expected)}")
    positions = sorted(r["waitlistPosition"] for r in registrations if r["status"] == "WAITLISTED")
    if positions != list(range(1, people - seats + 1)):
        found.append("waitlist positions are not 1, 2, … once each")
    expected_seats = {
        "capacity": seats, "seatsTaken": seats, "seatsLeft": 0, "waitlistLength": people - seats
    }  # fmt: skip
    if outcome.seats != expected_seats:
        found.append(f"event counts {outcome.seats}, expected {expected_seats}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--seats", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    if not 0 < args.seats < args.people:
        parser.error("need 0 < seats < people")
    with private_stack() as (environment, _):
        outcome = asyncio.run(measure(environment, args.people, args.seats, args.concurrency))
    median, p99 = summary_ms(outcome.latencies)
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}, {len(os.sched_getaffinity(0))} cores")  # fmt: skip
    print(f"people: {args.people}, seats: {args.seats}, concurrency: {args.concurrency}")
    print(f"wall time: {outcome.wall_seconds:.2f} s")
    print(f"registrations/s: {args.people / outcome.wall_seconds:.1f}")
    print(f"registerForEvent latency: p50 {median:.2f} ms, p99 {p99:.2f} ms")
    if found := problems(outcome, args.people, args.seats):
        raise SystemExit("WRONG OUTCOME:\n" + "\n".join(found[:20]))
    print(f"outcome: {args.seats} CONFIRMED, {args.people - args.seats} WAITLISTED, no errors")


if __name__ == "__main__":
    main()
