"""Soak test of the event bus: steady profile updates and registrations for a few
minutes while Redis is restarted twice and one of two events processes is killed
(SIGKILL) and started again. It ends by proving nothing was lost or applied twice and
prints the delivery lag it saw.

    .venv/bin/python -m bench.eventbus_soak [--seconds 180] [--rate 20]

Checks, once the load stops and the consumers caught up:
- every outbox row (users and events) is marked published and is in its stream
  (entries sent twice by a relay that crashed between XADD and marking are counted);
- the events subgraph applied every users event exactly once (its processed-events
  record holds each id once) and each person's visibility copy is at the newest
  version of the person;
- the lag from a users event's commit to its application by the events subgraph.
"""

import argparse
import asyncio
import dataclasses
import os
import platform
import random
import signal
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from redis.asyncio import Redis

from bench.support import percentile
from shared.eventbus import stream_name
from subgraphs.events.tests.test_outbox import PrivateRedis
from tests.support.environment import create_environment, destroy_environment
from tests.support.events import CANCEL_REGISTRATION, REGISTER, published_event
from tests.support.graphql import GraphQLClient
from tests.support.users import Person, sign_up, with_role
from tests.support.waiting import eventually
from tools.stack import Process, Stack, free_port

UPDATE_VISIBILITY = """
mutation Visibility($visibility: ProfileVisibility!) {
  updateProfile(input: {visibility: $visibility}) { profile { visibility } }
}
"""
VISIBILITIES = ("PUBLIC", "MEMBERS", "PRIVATE")


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class Load:
    operations: int = 0
    failures: int = 0


class PersistentRedis(PrivateRedis):
    """The tests' private Redis with an append-only file synced on every write
    (docker-compose.yml runs one with the default `everysec`): a restart keeps the
    streams (without it every entry before a restart is gone, and the check that each
    outbox row reached its stream cannot hold)."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self._data_dir = data_dir

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "yes", "--appendfsync", "always",
            "--dir", str(self._data_dir),
            "--logfile", str(self._log_file),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await eventually(self._answers, f"redis-server on port {self.port}", within=10)


async def drive(
    api: GraphQLClient, people: list[Person], events: list[str], seconds: float, rate: float
) -> Load:
    """One operation every 1/rate seconds: a visibility change or a (un)registration."""
    load = Load()
    registered: set[tuple[str, str]] = set()
    deadline = time.monotonic() + seconds
    pending: set[asyncio.Task[None]] = set()

    async def operation() -> None:
        person = random.choice(people)
        try:
            if random.random() < 0.5:
                visibility = random.choice(VISIBILITIES)
                await api.data(UPDATE_VISIBILITY, {"visibility": visibility}, person.token)
            else:
                event_id = random.choice(events)
                key = (person.id, event_id)
                if key in registered:
                    registered.discard(key)
                    await api.data(CANCEL_REGISTRATION, {"id": event_id}, person.token)
                else:
                    registered.add(key)
                    await api.data(REGISTER, {"id": event_id}, person.token)
            load.operations += 1
        except Exception:  # counted: a failed request is part of what the soak measures
            load.failures += 1

    while time.monotonic() < deadline:
        task = asyncio.create_task(operation())
        pending.add(task)
        task.add_done_callback(pending.discard)
        await asyncio.sleep(1 / rate)
    if pending:
        await asyncio.wait(pending)
    return load


async def disturb(
    seconds: float, redis: PersistentRedis, stack: Stack, victim: Process, port: int
) -> list[str]:
    """Redis restarted at 1/4 and 3/4 of the run; the second events process killed at 1/2."""
    log: list[str] = []
    started = time.monotonic()

    async def at(fraction: float) -> None:
        await asyncio.sleep(max(0.0, started + seconds * fraction - time.monotonic()))

    await at(0.25)
    await redis.stop()
    log.append(f"{time.monotonic() - started:6.1f} s  Redis stopped")
    await asyncio.sleep(3)
    await redis.start()
    log.append(f"{time.monotonic() - started:6.1f} s  Redis started")
    await at(0.5)
    victim.popen.send_signal(signal.SIGKILL)
    victim.popen.wait()
    stack.processes.remove(victim)
    log.append(f"{time.monotonic() - started:6.1f} s  events-second killed")
    await asyncio.sleep(2)
    stack.start_subgraph("events", port=port, replica="-second")
    log.append(f"{time.monotonic() - started:6.1f} s  events-second started again")
    await at(0.75)
    await redis.stop()
    log.append(f"{time.monotonic() - started:6.1f} s  Redis stopped")
    await asyncio.sleep(3)
    await redis.start()
    log.append(f"{time.monotonic() - started:6.1f} s  Redis started")
    return log


async def verify(database_url: str, redis_url: str, prefix: str) -> list[str]:
    connection = await asyncpg.connect(database_url)
    redis = Redis.from_url(redis_url, decode_responses=True)
    report: list[str] = []
    try:

        async def caught_up() -> bool:
            unsent = await connection.fetchval(
                "SELECT (SELECT count(*) FROM users.outbox WHERE published_at IS NULL)"
                " + (SELECT count(*) FROM events.outbox WHERE published_at IS NULL)"
            )
            users_ids = await connection.fetchval("SELECT count(*) FROM users.outbox")
            applied = await connection.fetchval(
                "SELECT count(*) FROM events.processed_events p JOIN users.outbox o"
                " ON o.id = p.event_id WHERE p.consumer = 'events'"
            )
            return bool(unsent == 0 and applied == users_ids)

        await eventually(caught_up, "the relays and consumers to catch up", within=180, every=1)
        for producer in ("users", "events"):
            entries: Any = await redis.xrange(stream_name(prefix, producer))
            in_stream = [uuid.UUID(fields["id"]) for _, fields in entries]
            rows = {
                row["id"] for row in await connection.fetch(f"SELECT id FROM {producer}.outbox")
            }
            lost = rows - set(in_stream)
            duplicates = len(in_stream) - len(set(in_stream))
            report.append(
                f"{producer}: {len(rows)} outbox rows, all marked published, "
                f"{len(lost)} missing from the stream, {duplicates} sent twice"
            )
            assert not lost, f"{producer}: {len(lost)} events lost"
        stale = await connection.fetch(
            "SELECT u.id FROM users.users u LEFT JOIN events.people p ON p.user_id = u.id"
            " WHERE p.user_id IS NULL OR p.version <> u.version"
            " OR p.visibility <> u.visibility"
        )
        report.append(f"visibility copies not at the person's newest version: {len(stale)}")
        assert not stale, stale
        lags = [
            row["lag"]
            for row in await connection.fetch(
                "SELECT extract(epoch FROM p.processed_at - o.occurred_at)::float AS lag"
                " FROM events.processed_events p JOIN users.outbox o ON o.id = p.event_id"
                " WHERE p.consumer = 'events'"
            )
        ]
        report.append(
            f"users event -> applied by events, {len(lags)} events: "
            f"median {statistics.median(lags):.3f} s, p99 {percentile(lags, 0.99):.3f} s, "
            f"max {max(lags):.3f} s"
        )
    finally:
        await redis.aclose()
        await connection.close()
    return report


async def soak(seconds: float, rate: float, people_count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        redis = PersistentRedis(Path(tmp))
        await redis.start()
        # Both set up databases with asyncio.run of their own: not on this loop. Untraced,
        # as the other benchmarks.
        environment = await asyncio.to_thread(create_environment, Path(tmp), False)
        config = dataclasses.replace(environment.config, redis_url=redis.url)
        stack = Stack(config)
        second = Stack(
            dataclasses.replace(config, env={**config.env, "CONSUMER_NAME": "events-second"})
        )
        api = GraphQLClient(config.url("router"))
        try:
            await asyncio.to_thread(stack.start)
            second_port = free_port()
            victim = second.start_subgraph("events", port=second_port, replica="-second")
            await asyncio.to_thread(second.wait_ready)
            organizer = await with_role(api, config.database_url, "organizer")
            events = [await published_event(api, organizer, capacity=5) for _ in range(5)]
            people = [await sign_up(api, f"Soak {n}") for n in range(people_count)]
            processes = {p.name: p.popen.pid for p in stack.processes + second.processes}
            cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
            load, disturbances = await asyncio.gather(
                drive(api, people, events, seconds, rate),
                disturb(seconds, redis, second, victim, second_port),
            )
            report = await verify(config.database_url, redis.url, config.redis_prefix)
            cpu_after = {}
            for name, pid in processes.items():
                try:
                    cpu_after[name] = cpu_seconds(pid) - cpu_before[name]
                except FileNotFoundError:
                    cpu_after[name] = float("nan")  # the killed process
        finally:
            await api.close()
            second.stop()
            stack.stop()
            await asyncio.to_thread(destroy_environment, environment)
            await redis.stop()
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}, {len(os.sched_getaffinity(0))} cores "
          f"(shared with parallel work: load average {os.getloadavg()[0]:.1f})")  # fmt: skip
    print(f"load: {seconds:.0f} s at {rate:g} operations/s, {people_count} people, 5 events: "
          f"{load.operations} operations succeeded, {load.failures} failed")  # fmt: skip
    for line in disturbances + report:
        print(line)
    for name, cpu in sorted(cpu_after.items()):
        per_operation = cpu / max(load.operations, 1) * 1000
        print(f"cpu {name:<16} {cpu:7.1f} s  ({per_operation:.2f} ms per operation)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--rate", type=float, default=20, help="operations per second")
    parser.add_argument("--people", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(soak(args.seconds, args.rate, args.people))


if __name__ == "__main__":
    main()
