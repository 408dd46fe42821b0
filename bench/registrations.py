"""Registrations under contention: through the router, straight to the events subgraph,
and the database's own ceiling for the same transaction, side by side in one run.

One event with `--seats` seats; wrk keeps `--concurrency` `registerForEvent` requests in
flight for `--seconds`, each carrying the token of a new person, so every request is a
new registration taking the event's row lock (and the router never merges two). The
people are known to messaging with an email address, as after their sign-up, so each
registration's notification email is really sent (to the stack's SMTP sink).

Next to each figure: CPU milliseconds per registration of every process (router, each
subgraph, the PostgreSQL backends), read from /proc, counted until the run's work is
all done: the write, and what the consumers do with it afterwards (matching's
projection and re-scoring, messaging's notification and email), which goes on after
wrk stops and would otherwise fall into the next run. `drain s` is how long that took.

The ceiling is pgbench running the very function the events subgraph calls
(`events.register_for_event`: lock, check, insert, counters, outbox) with as many
clients, against the same PostgreSQL, between the other runs; each figure is printed
as a share of it.

With `--baseline DIR` (a checkout of an older commit with its own `make install`, e.g.
`git worktree add DIR <commit>`) the same runs go to a stack started from that checkout
too, alternating with this one, so before and after see the same machine load; with
`--before-env KEY=VALUE` / `--after-env KEY=VALUE`, to two stacks of this checkout with
different settings.

Every run's outcome is checked, and the script exits non-zero otherwise: exactly
`--seats` confirmed, everyone else waitlisted, positions answered once each and
within the waitlist, the event's counters and one outbox row per registration.

    .venv/bin/python -m bench.registrations [--baseline DIR] [--rounds 3] [--seconds 5]
        [--before-env KEY=VALUE] [--after-env KEY=VALUE]
"""

import argparse
import asyncio
import os
import platform
import statistics
import time
import uuid
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass

import asyncpg

from bench.load import (
    CpuMeter,
    StackUnderTest,
    WrkResult,
    add_comparison_arguments,
    cpu_ms_per_request,
    pgbench_tps,
    run_wrk,
    stacks_to_compare,
)
from shared.auth import Role
from tests.support.events import REGISTER, published_event
from tests.support.graphql import GraphQLClient
from tests.support.users import Person

CEILING_SCRIPT = """\
SELECT refusal FROM events.register_for_event(:event_id::uuid, gen_random_uuid(), false,
    md5(random()::text));
"""


# How long the consumers may take to catch up with a run before it counts as wrong.
DRAIN_TIMEOUT_SECONDS = 120.0
CAUGHT_UP = """
SELECT (SELECT count(*) FROM events.registrations WHERE event_id = $1) AS registered,
       (SELECT count(*) FROM events.outbox o JOIN events.registrations r
          ON o.aggregate_id = r.id::text
        WHERE r.event_id = $1 AND o.published_at IS NULL) AS unrelayed,
       (SELECT count(*) FROM matching.registrations WHERE event_id = $1) AS in_matching,
       (SELECT count(*) FROM matching.rescore_queue) AS rescoring,
       (SELECT count(*) FROM messaging.event_registrations WHERE event_id = $1) AS in_messaging,
       (SELECT count(*) FROM messaging.outgoing_mail m
          JOIN messaging.notifications n ON n.id = m.notification_id
        WHERE n.event_id = $1 AND m.sent_at IS NULL) AS unsent
"""
DROP_MAIL = """
DELETE FROM messaging.outgoing_mail m USING messaging.notifications n
WHERE n.id = m.notification_id AND n.event_id = $1 AND m.sent_at IS NULL
"""


@dataclass
class Run:
    stack: str
    path: str
    result: WrkResult
    cpu_ms: dict[str, float]
    drain_seconds: float


async def new_event(stack: StackUnderTest, seats: int) -> str:
    [token] = stack.tokens(1, Role.ORGANIZER)
    organizer = Person(id="", email="", name="Bench organizer", token=token, refresh_token="")
    api = GraphQLClient(stack.router_url)
    try:
        return await published_event(api, organizer, capacity=seats)
    finally:
        await api.close()


async def people_with_addresses(stack: StackUnderTest, count: int) -> list[str]:
    """`count` new people as messaging knows them once their sign-up reached it."""
    ids = [uuid.uuid4() for _ in range(count)]
    connection = await asyncpg.connect(stack.database_url)
    try:
        await connection.execute(
            "INSERT INTO messaging.notification_recipients (user_id, name, email, version) "
            "SELECT id, 'Bench person', id::text || '@bench.invalid', 1 FROM unnest($1::uuid[]) id",
            ids,
        )
    finally:
        await connection.close()
    return [str(person) for person in ids]


async def drained(stack: StackUnderTest, event_id: str, *, mail: bool = True) -> float:
    """Waits until the run's registrations are relayed and applied by both consumers, the
    re-scoring queue is empty and (with `mail`) every email is sent; the seconds that took.

    Without `mail` (the ceiling's registrations are by people nobody knows, whose mails
    would be retried for minutes) the event's queued mails are dropped instead."""
    started = time.monotonic()
    connection = await asyncpg.connect(stack.database_url)
    try:
        while True:
            state = await connection.fetchrow(CAUGHT_UP, uuid.UUID(event_id))
            applied = state["in_matching"] == state["in_messaging"] == state["registered"]
            unsent = state["unsent"] if mail else 0
            if applied and state["unrelayed"] == state["rescoring"] == unsent == 0:
                if not mail:
                    await connection.execute(DROP_MAIL, uuid.UUID(event_id))
                return time.monotonic() - started
            if time.monotonic() - started > DRAIN_TIMEOUT_SECONDS:
                raise SystemExit(f"{stack.label}: not caught up after a run: {dict(state)}")
            await asyncio.sleep(0.2)
    finally:
        await connection.close()


async def outcome_problems(
    stack: StackUnderTest, event_id: str, seats: int, result: WrkResult, connections: int
) -> list[str]:
    connection = await asyncpg.connect(stack.database_url)
    try:
        # One snapshot: registrations still in flight when wrk stopped commit meanwhile.
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            event = await connection.fetchrow(
                "SELECT seats_taken, waitlist_length FROM events.events WHERE id = $1",
                uuid.UUID(event_id),
            )
            counts = dict(
                await connection.fetch(
                    "SELECT status, count(*) FROM events.registrations WHERE event_id = $1 "
                    "GROUP BY status",
                    uuid.UUID(event_id),
                )
            )
            outbox_rows = await connection.fetchval(
                "SELECT count(*) FROM events.outbox o JOIN events.registrations r "
                "ON o.aggregate_id = r.id::text WHERE r.event_id = $1",
                uuid.UUID(event_id),
            )
    finally:
        await connection.close()
    found = []
    if result.errors:
        found.append(f"{result.errors} errors, e.g. {result.error_sample}")
    if result.wrapped:
        found.append("tokens ran out (people registered twice): raise --people")
    registered = sum(counts.values())
    confirmed, waitlisted = counts.get("confirmed", 0), counts.get("waitlisted", 0)
    if (confirmed, waitlisted) != (min(seats, registered), registered - min(seats, registered)):
        found.append(f"statuses {counts} for {registered} registrations and {seats} seats")
    if (event["seats_taken"], event["waitlist_length"]) != (confirmed, waitlisted):
        found.append(f"event counters {dict(event)} disagree with registrations {counts}")
    if outbox_rows != registered:
        found.append(f"{outbox_rows} outbox rows for {registered} registrations")
    # Registrations still in flight when wrk stopped were committed but not counted.
    unanswered = registered - result.requests
    if not 0 <= unanswered <= connections:
        found.append(f"{registered} registered but {result.requests} answered")
    positions = result.collected
    if len(set(positions)) != len(positions) or not set(positions) <= set(range(1, waitlisted + 1)):
        found.append("waitlist positions answered twice or outside the waitlist")
    if len(positions) < waitlisted - unanswered:
        found.append(f"{len(positions)} positions answered for {waitlisted} waitlisted")
    return found


def registration_run(
    stack: StackUnderTest, path: str, args: argparse.Namespace
) -> tuple[Run, list[str]]:
    event_id = asyncio.run(new_event(stack, args.seats))
    url = stack.router_url if path == "router" else stack.urls["events"]
    tokens = people_tokens(stack, args.people)
    meter = CpuMeter(stack)
    meter.start()
    result = run_wrk(
        url,
        {"query": REGISTER, "variables": {"id": event_id}},
        tokens,
        connections=args.concurrency,
        seconds=args.seconds,
        collect="waitlistPosition",
    )
    drain_seconds = asyncio.run(drained(stack, event_id))
    spent = meter.stop()
    problems = asyncio.run(outcome_problems(stack, event_id, args.seats, result, args.concurrency))
    run = Run(stack.label, path, result, cpu_ms_per_request(spent, result.requests), drain_seconds)
    return run, [f"{stack.label} via {path}: {problem}" for problem in problems]


def warm_up(stack: StackUnderTest, args: argparse.Namespace) -> None:
    """Opens the services' connections and fills their caches before anything is timed,
    and lets the consumers finish with it."""
    for url in (stack.router_url, stack.urls["events"]):
        event_id = asyncio.run(new_event(stack, args.seats))
        body = {"query": REGISTER, "variables": {"id": event_id}}
        run_wrk(url, body, people_tokens(stack, args.concurrency * 20),
                connections=args.concurrency, seconds=1)  # fmt: skip
        asyncio.run(drained(stack, event_id))


def people_tokens(stack: StackUnderTest, count: int) -> list[str]:
    return stack.tokens(count, people=asyncio.run(people_with_addresses(stack, count)))


def ceiling(stack: StackUnderTest, args: argparse.Namespace) -> float:
    """The database's own rate; then waits for the consumers to finish with what it
    registered, so that their work is not counted in the next run."""
    event_id = asyncio.run(new_event(stack, args.seats))
    tps = pgbench_tps(
        stack.database_url,
        CEILING_SCRIPT,
        {"event_id": event_id},
        clients=args.concurrency,
        seconds=max(2, args.seconds),
    )
    asyncio.run(drained(stack, event_id, mail=False))
    return tps


def report(runs: list[Run], ceilings: list[float], args: argparse.Namespace) -> None:
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}, {len(os.sched_getaffinity(0))} cores, "
          f"load average {os.getloadavg()[0]:.1f} at the end")  # fmt: skip
    print(f"seats: {args.seats}, concurrency: {args.concurrency}, "
          f"{args.seconds} s per run, {args.rounds} rounds alternating")  # fmt: skip
    ceiling_tps = statistics.median(ceilings)
    print(f"ceiling (pgbench, events.register_for_event, {args.concurrency} clients): "
          f"median {ceiling_tps:.0f}/s over {len(ceilings)} runs "
          f"({', '.join(f'{c:.0f}' for c in ceilings)})")  # fmt: skip
    grouped: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for run in runs:
        grouped[(run.stack, run.path)].append(run)
    names = sorted({name for run in runs for name in run.cpu_ms})
    header = (f"{'stack':<9}{'path':<8}{'reg/s':>8}{'of ceiling':>11}{'p50 ms':>9}"
              f"{'p99 ms':>9}{'drain s':>9}")  # fmt: skip
    print(header + "  CPU ms per registration: " + " ".join(f"{n:>9}" for n in names)
          + f"{'all':>9}")  # fmt: skip
    for (stack, path), group in grouped.items():
        rate = statistics.median(run.result.per_second for run in group)
        p50 = statistics.median(run.result.p50_ms for run in group)
        p99 = statistics.median(run.result.p99_ms for run in group)
        drain = statistics.median(run.drain_seconds for run in group)
        cpu = {n: statistics.median(run.cpu_ms.get(n, 0.0) for run in group) for n in names}
        print(f"{stack:<9}{path:<8}{rate:>8.0f}{rate / ceiling_tps:>10.0%} {p50:>9.1f}{p99:>9.1f}"
              f"{drain:>9.1f}  " + " " * 25 + " ".join(f"{cpu[n]:>9.2f}" for n in names)
              + f"{sum(cpu.values()):>9.2f}")  # fmt: skip
        print(f"{'':<17}runs: " + ", ".join(f"{run.result.per_second:.0f}/s" for run in group))
    if len({run.stack for run in runs}) == 2:
        for path in ("router", "direct"):
            before = statistics.median(r.result.per_second for r in grouped[("before", path)])
            after = statistics.median(r.result.per_second for r in grouped[("after", path)])
            print(f"after / before via {path}: {after / before:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_comparison_arguments(parser)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--seats", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--people", type=int, default=6000, help="tokens per run")
    args = parser.parse_args()
    runs: list[Run] = []
    ceilings: list[float] = []
    problems: list[str] = []
    with ExitStack() as running:
        # The request pool sized to the load, as a deployment expecting it would set it.
        stacks = stacks_to_compare(running, args, {"DATABASE_POOL_SIZE": str(args.concurrency)})
        after = stacks[-1]
        for stack in stacks:
            warm_up(stack, args)
        for _ in range(args.rounds):
            ceilings.append(ceiling(after, args))
            for stack in stacks:
                for path in ("router", "direct"):
                    run, found = registration_run(stack, path, args)
                    runs.append(run)
                    problems.extend(found)
    report(runs, ceilings, args)
    if problems:
        raise SystemExit("WRONG OUTCOME:\n" + "\n".join(problems[:20]))
    print("outcome of every run: checked, correct")


if __name__ == "__main__":
    main()
