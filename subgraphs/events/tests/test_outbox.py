"""Domain events survive a Redis outage and reach each consumer once per idempotency key.

A change and its domain event commit together in the outbox, so a registration
succeeds while Redis is down and its event reaches the stream once Redis is back.
Consumers record the event ids they applied in the same transaction as the effect
and acknowledge afterwards, so an event the relay sent twice, or one a crashed
consumer held, is still applied exactly once.
"""

import asyncio
import dataclasses
import json
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database
from shared.eventbus import DomainEvent, StreamConsumer, stream_name
from subgraphs.events.models import processed_events
from tests.support.environment import StackEnvironment, database_url, run_as_admin
from tests.support.events import REGISTER, published_event
from tests.support.graphql import GraphQLClient
from tests.support.users import sign_up, with_role
from tests.support.waiting import eventually
from tools.stack import Process, Stack, free_port

MY_REGISTRATION = """
query Mine($id: ID!) { event(id: $id) { myRegistration { id status } } }
"""


# Redis unreachable ---------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of the test's own, to take down and bring back on the same port."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._log_file = log_dir / "redis.log"
        self._process: asyncio.subprocess.Process | None = None

    async def _answers(self) -> bool:
        client = Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            return bool(await client.ping())
        except (RedisError, OSError):
            return False
        finally:
            await client.aclose()

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--logfile", str(self._log_file),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await eventually(self._answers, f"redis-server on port {self.port}", within=10)

    def freeze(self) -> None:
        """Stops the server without closing anything (SIGSTOP): connections stay open and
        new ones are accepted by the kernel, but nothing is answered until `thaw`."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGCONT)  # a frozen one would never handle SIGTERM
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
        assert not await self._answers(), "redis-server still answers after being stopped"


@asynccontextmanager
async def private_redis(log_dir: Path) -> AsyncIterator[PrivateRedis]:
    redis = PrivateRedis(log_dir)
    await redis.start()
    try:
        yield redis
    finally:
        await redis.stop()


@asynccontextmanager
async def private_database() -> AsyncIterator[str]:
    """A database of the test's own. In the stack's database, the stack's own events
    process (whose Redis is up) would relay the outbox before this test could look."""
    name = f"meetinity_test_outbox_{uuid.uuid4().hex[:10]}"
    await run_as_admin(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(name)
    finally:
        await run_as_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclasses.dataclass
class EventsProcess:
    process: Process
    client: GraphQLClient

    def log(self) -> list[dict[str, Any]]:
        assert self.process.log_file is not None
        lines = self.process.log_file.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


@asynccontextmanager
async def events_subgraph(
    environment: StackEnvironment, database: str, redis_url: str, log_dir: Path
) -> AsyncIterator[EventsProcess]:
    """An extra events subgraph process; it verifies tokens with the stack's users subgraph."""
    config = dataclasses.replace(
        environment.config,
        database_url=database,
        redis_url=redis_url,
        ports=dict(environment.config.ports),
        log_dir=log_dir,
    )
    extra = Stack(config)
    port = free_port()
    client = GraphQLClient(f"http://127.0.0.1:{port}/graphql")
    try:
        process = extra.start_subgraph("events", port=port)
        await asyncio.to_thread(extra.wait_ready)
        yield EventsProcess(process, client)
    finally:
        await client.close()
        await asyncio.to_thread(extra.stop)


async def outbox_rows(database: str, where: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database)
    try:
        rows: list[asyncpg.Record] = await connection.fetch(
            f"SELECT id, type, aggregate_id, published_at FROM events.outbox WHERE {where}", *args
        )
        return rows
    finally:
        await connection.close()


async def test_registering_while_redis_is_down_succeeds_and_the_event_follows_once_it_is_back(
    api: GraphQLClient, environment: StackEnvironment, tmp_path: Path
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    person = await sign_up(api)
    async with (
        private_redis(tmp_path) as redis,
        private_database() as database,
        events_subgraph(environment, database, redis.url, tmp_path / "logs") as events,
    ):
        event_id = await published_event(events.client, organizer)

        async def nothing_unsent() -> bool:
            return not await outbox_rows(database, "published_at IS NULL")

        # `event.published` went out while Redis was up.
        await eventually(nothing_unsent, "the outbox to be empty before Redis goes down")
        await redis.stop()

        request_id = uuid.uuid4().hex
        body = await asyncio.wait_for(
            events.client.execute(
                REGISTER, {"id": event_id}, person.token, headers={"x-request-id": request_id}
            ),
            10,
        )
        assert "errors" not in body, body
        registration = body["data"]["registerForEvent"]
        assert registration["status"] == "CONFIRMED"
        mine = await events.client.data(MY_REGISTRATION, {"id": event_id}, person.token)
        assert mine["event"]["myRegistration"] == {"id": registration["id"], "status": "CONFIRMED"}

        def logged(message: str, **fields: object) -> list[dict[str, Any]]:
            return [
                entry
                for entry in events.log()
                if entry["message"] == message and fields.items() <= entry.items()
            ]

        async def request_logged() -> list[dict[str, Any]]:
            return logged("request", request_id=request_id)

        # The request did meet the outage (its live updates were lost), and was served.
        [request] = await eventually(request_logged, "the request in the subgraph's log")
        assert request["status"] == 200
        assert logged("live update not published", request_id=request_id)

        async def relay_failed() -> list[dict[str, Any]]:
            return logged("outbox relay failed, retrying")

        # The relay tried to send the event and could not: the event waits in the outbox.
        await eventually(relay_failed, "the relay to fail while Redis is down")
        [row] = await outbox_rows(
            database,
            "aggregate_id = $1 AND type = 'registration.confirmed'",
            registration["id"],
        )
        assert row["published_at"] is None
        assert events.process.popen.poll() is None, events.process.log_tail()

        await redis.start()
        reader = Redis.from_url(redis.url, decode_responses=True)
        stream = stream_name(environment.config.redis_prefix, "events")

        async def arrived() -> list[dict[str, str]]:
            entries: Any = await reader.xrange(stream)
            return [
                fields
                for _, fields in entries
                if fields["type"] == "registration.confirmed"
                and fields["aggregate_id"] == registration["id"]
            ]

        try:
            delivered = await eventually(arrived, "the event in the stream once Redis is back")
        finally:
            await reader.aclose()
        assert {fields["id"] for fields in delivered} == {str(row["id"])}
        assert DomainEvent.from_stream("", delivered[0]).payload == {
            "registration_id": registration["id"],
            "event_id": event_id,
            "user_id": person.id,
            "status": "confirmed",
            "change": "CONFIRMED",
        }

        async def marked_sent() -> bool:
            [sent] = await outbox_rows(database, "id = $1", row["id"])
            return sent["published_at"] is not None

        await eventually(marked_sent, "the outbox row to be marked sent")
        assert events.process.popen.poll() is None, events.process.log_tail()
        errors = [entry for entry in events.log() if entry["level"] in ("error", "critical")]
        assert not errors, errors


# Consumers -----------------------------------------------------------------------------


class SimulatedCrash(BaseException):
    """The consumer process dies while handling an event, before acknowledging it (a
    BaseException, as a kill is: an Exception would be the event's failure, retried)."""


def domain_event(type: str = "test.happened") -> DomainEvent:
    return DomainEvent(uuid.uuid4(), type, str(uuid.uuid4()), datetime.now(UTC), {"n": 1})


@dataclasses.dataclass
class StreamFixture:
    db: Database
    redis: Redis
    stream: str
    group: str

    def consumer(
        self, handler: Callable[[AsyncSession, DomainEvent], Awaitable[None]]
    ) -> StreamConsumer:
        """Always the same consumer name: a restarted process takes up its own pending events."""
        return StreamConsumer(
            self.db, processed_events, self.redis, self.stream, self.group, "consumer-1", handler,
            "test",
        )  # fmt: skip

    async def add(self, event: DomainEvent) -> str:
        fields: Any = event.to_stream_fields()
        stream_id: Any = await self.redis.xadd(self.stream, fields)
        return str(stream_id)

    async def pending_ids(self) -> list[str]:
        entries: Any = await self.redis.xpending_range(self.stream, self.group, "-", "+", 100)
        return [entry["message_id"] for entry in entries]

    async def all_acknowledged(self) -> None:
        """Waits until the group has been given every entry and acknowledged each one."""

        async def done() -> bool:
            newest: Any = await self.redis.xrevrange(self.stream, count=1)
            groups: Any = await self.redis.xinfo_groups(self.stream)
            return any(
                group["name"] == self.group
                and group["last-delivered-id"] == newest[0][0]
                and group["pending"] == 0
                for group in groups
            )

        await eventually(done, "the consumer to acknowledge every entry", within=10)

    async def processed_ids(self) -> set[uuid.UUID]:
        async with self.db.transaction() as session:
            rows = await session.scalars(
                select(processed_events.c.event_id).where(processed_events.c.consumer == self.group)
            )
            return set(rows)


@pytest.fixture
async def streams(environment: StackEnvironment, stack: Stack) -> AsyncIterator[StreamFixture]:
    """A fresh stream and consumer group in the test Redis; the stack migrated the database."""
    config = environment.config
    db = Database(config.database_url, "test")
    redis = Redis.from_url(config.redis_url, decode_responses=True)
    name = uuid.uuid4().hex[:10]
    try:
        yield StreamFixture(
            db, redis, stream_name(config.redis_prefix, f"test-{name}"), f"test-group-{name}"
        )
    finally:
        await redis.aclose()
        await db.dispose()


async def stopped(task: asyncio.Task[None]) -> None:
    """Cancels the task, again if need be: on Python 3.11, a cancellation that lands while
    redis-py reconnects can be lost in `asyncio.wait_for` (fixed in 3.12)."""
    deadline = time.monotonic() + 10
    while not task.done():
        assert time.monotonic() < deadline, f"{task} ignores cancellation"
        task.cancel()
        await asyncio.wait({task}, timeout=0.2)


@asynccontextmanager
async def running(consumer: StreamConsumer) -> AsyncIterator[None]:
    task = asyncio.create_task(consumer.run())
    try:
        yield
        assert not task.done(), task
    finally:
        await stopped(task)


async def test_a_consumer_applies_an_event_once_however_many_times_the_stream_holds_it(
    streams: StreamFixture,
) -> None:
    applied: list[uuid.UUID] = []

    async def apply(session: AsyncSession, event: DomainEvent) -> None:
        applied.append(event.id)

    first, second = domain_event(), domain_event()
    # The relay sent `first` again after a crash between XADD and marking the row sent.
    for event in (first, first, second):
        await streams.add(event)
    async with running(streams.consumer(apply)):
        await streams.all_acknowledged()
        assert applied == [first.id, second.id]
        # Much later, the relay sends it once more.
        await streams.add(first)
        await streams.all_acknowledged()
    assert Counter(applied) == {first.id: 1, second.id: 1}
    assert await streams.processed_ids() == {first.id, second.id}


async def test_a_consumer_restarted_after_a_crash_applies_what_it_held_first_and_once(
    streams: StreamFixture,
) -> None:
    attempts: Counter[uuid.UUID] = Counter()
    applied: list[uuid.UUID] = []
    a, b, c, d = (domain_event() for _ in range(4))
    ids = {event.id: await streams.add(event) for event in (a, b, c)}

    async def crash_on_b(session: AsyncSession, event: DomainEvent) -> None:
        attempts[event.id] += 1
        if event.id == b.id:
            raise SimulatedCrash
        applied.append(event.id)

    crashed = asyncio.create_task(streams.consumer(crash_on_b).run())
    await asyncio.wait({crashed}, timeout=10)
    if not crashed.done():
        await stopped(crashed)
        pytest.fail("the consumer went on after its handler failed")
    assert isinstance(crashed.exception(), SimulatedCrash), crashed
    # `a` was applied and acknowledged; `b` (its transaction rolled back) and `c` (read in
    # the same batch) were delivered to the consumer and never acknowledged.
    assert applied == [a.id]
    assert attempts == {a.id: 1, b.id: 1}
    assert await streams.pending_ids() == [ids[b.id], ids[c.id]]
    assert await streams.processed_ids() == {a.id}
    await streams.add(d)  # arrives while the consumer is down

    async def apply(session: AsyncSession, event: DomainEvent) -> None:
        attempts[event.id] += 1
        applied.append(event.id)

    async with running(streams.consumer(apply)):
        await streams.all_acknowledged()
    # What it held comes first, from re-reading its own pending entries (`>` never delivers
    # them again, and XAUTOCLAIM only takes entries idle for 30 s), then `d`.
    assert applied == [a.id, b.id, c.id, d.id]
    assert attempts == {a.id: 1, b.id: 2, c.id: 1, d.id: 1}
    assert await streams.processed_ids() == {a.id, b.id, c.id, d.id}


async def test_an_event_applied_but_not_acknowledged_before_a_crash_is_not_applied_again(
    streams: StreamFixture,
) -> None:
    applied: list[uuid.UUID] = []

    async def apply(session: AsyncSession, event: DomainEvent) -> None:
        applied.append(event.id)

    held, fresh = domain_event(), domain_event()
    held_id = await streams.add(held)
    await streams.add(fresh)
    # The state a crash between committing `held`'s effect and XACK leaves: `held` was
    # delivered to the consumer, is unacknowledged, and its id is recorded as applied.
    await streams.consumer(apply).ensure_group()
    await streams.redis.xreadgroup(streams.group, "consumer-1", {streams.stream: ">"}, count=1)
    async with streams.db.transaction() as session:
        await session.execute(
            insert(processed_events).values(consumer=streams.group, event_id=held.id)
        )
    assert await streams.pending_ids() == [held_id]

    async with running(streams.consumer(apply)):
        await streams.all_acknowledged()
    assert applied == [fresh.id]
    assert await streams.processed_ids() == {held.id, fresh.id}
