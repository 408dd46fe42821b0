"""A Redis that accepts connections and never answers (black-holed) or stops answering
(frozen) fails calls within the configured timeouts; the outbox relay never holds a
database transaction or row lock meanwhile; consumers keep beating and resume once
Redis answers again; live updates of a committed change never hold its response long.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database
from shared.eventbus import DomainEvent, OutboxRelay, StreamConsumer, stream_name
from shared.jobs import Supervisor
from shared.migrations import upgrade
from shared.redis_client import redis_client
from shared.settings import Settings
from subgraphs.events.models import outbox, processed_events
from subgraphs.events.tests.test_outbox import (
    domain_event,
    events_subgraph,
    private_database,
    private_redis,
)
from tests.support.environment import StackEnvironment
from tests.support.events import CANCEL_EVENT, REGISTER, published_event
from tests.support.graphql import GraphQLClient
from tests.support.redis import BlackHole
from tests.support.users import sign_up, with_role
from tests.support.waiting import eventually
from tools.stack import Stack

# Short, so the tests wait little; production's are in shared.settings.
QUICK = Settings(
    redis_connect_timeout_seconds=1.0, redis_socket_timeout_seconds=1.5,
    redis_health_check_seconds=1,
)  # fmt: skip


@asynccontextmanager
async def migrated_events_database() -> AsyncIterator[str]:
    """A database of the test's own: no stack process relays its outbox."""
    async with private_database() as url:
        await asyncio.to_thread(upgrade, "events", url)
        yield url


async def record_events(db: Database, count: int) -> None:
    async with db.transaction() as session:
        for n in range(count):
            await outbox.record(session, "test.happened", uuid.uuid4(), {"n": n}, version=1)


async def transaction_states(database: str) -> list[str]:
    """What every other session on the database is doing (pg_stat_activity.state)."""
    connection = await asyncpg.connect(database)
    try:
        rows = await connection.fetch(
            "SELECT state FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [row["state"] for row in rows]
    finally:
        await connection.close()


async def rows_lockable(database: str) -> int:
    """Locks every outbox row at once, failing if any row is locked by someone else."""
    connection = await asyncpg.connect(database)
    try:
        async with connection.transaction():
            rows = await connection.fetch("SELECT id FROM events.outbox FOR UPDATE NOWAIT")
        return len(rows)
    finally:
        await connection.close()


async def unpublished(database: str) -> int:
    connection = await asyncpg.connect(database)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM events.outbox WHERE published_at IS NULL"
        )
        return count
    finally:
        await connection.close()


async def test_the_relay_holds_no_transaction_nor_row_lock_while_redis_does_not_answer(
    environment: StackEnvironment,
) -> None:
    stream = stream_name(environment.config.redis_prefix, f"test-relay-{uuid.uuid4().hex[:8]}")
    async with migrated_events_database() as database, BlackHole() as hole:
        db = Database(database, "test")
        silent = redis_client(QUICK, url=hole.url)
        working = redis_client(url=environment.config.redis_url)
        try:
            await record_events(db, 3)
            relay = OutboxRelay(db, outbox, silent, stream, "test")
            stuck = asyncio.create_task(relay.relay_batch())
            await eventually(
                lambda: asyncio.sleep(0, hole.bytes_received > 0), "the relay to call Redis"
            )
            # While it waits for Redis: no transaction open, no outbox row locked.
            assert "idle in transaction" not in await transaction_states(database)
            assert await rows_lockable(database) == 3
            # A second replica's relay does not publish the same rows meanwhile.
            other = OutboxRelay(db, outbox, working, stream, "test")
            assert await other.relay_batch() == 0
            # The call fails within the socket timeout, not the kernel's TCP timeout.
            with pytest.raises(RedisTimeoutError):
                await asyncio.wait_for(stuck, 10)
            assert await unpublished(database) == 3
            # Redis answers again: the rows go out once, in order, and are marked sent.
            assert await other.relay_batch() == 3
            entries: Any = await working.xrange(stream)
            assert [DomainEvent.from_stream(i, f).payload for i, f in entries] == [
                {"n": 0}, {"n": 1}, {"n": 2},
            ]  # fmt: skip
            assert await unpublished(database) == 0
        finally:
            await working.delete(stream)
            await silent.aclose()
            await working.aclose()
            await db.dispose()


async def test_a_consumer_keeps_beating_while_redis_is_frozen_and_resumes_after(
    environment: StackEnvironment, stack: Stack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    applied: list[uuid.UUID] = []

    async def apply(session: AsyncSession, event: DomainEvent) -> None:
        applied.append(event.id)

    db = Database(environment.config.database_url, "test")
    supervisor = Supervisor("test", stuck_after_seconds=6)
    async with private_redis(tmp_path) as redis:
        client = redis_client(QUICK, url=redis.url)
        stream = stream_name("test", "frozen")
        consumer = StreamConsumer(
            db, processed_events, client, stream, f"group-{uuid.uuid4().hex[:8]}", "consumer-1",
            apply, "test",
        )  # fmt: skip
        before, after = domain_event(), domain_event()
        try:
            await client.xadd(stream, before.to_stream_fields())  # type: ignore[arg-type]
            supervisor.start("consumer", consumer.run)
            await eventually(lambda: asyncio.sleep(0, before.id in applied), "the first event")
            with caplog.at_level(logging.WARNING, logger="shared.eventbus"):
                redis.freeze()
                try:
                    # Longer than the job may stay silent: every call fails within the
                    # timeouts, is waited out, and the job beats meanwhile.
                    for _ in range(8):
                        await asyncio.sleep(1)
                        assert supervisor.health() == {"consumer": "ok"}
                finally:
                    redis.thaw()
            assert any(r.getMessage() == "stream consumer failed, retrying" for r in caplog.records)
            await client.xadd(stream, after.to_stream_fields())  # type: ignore[arg-type]
            await eventually(lambda: asyncio.sleep(0, after.id in applied), "the next event")
            assert applied == [before.id, after.id]
        finally:
            await supervisor.stop()
            await client.aclose()
            await db.dispose()


async def test_cancelling_an_event_answers_promptly_while_redis_is_frozen(
    api: GraphQLClient, environment: StackEnvironment, tmp_path: Path
) -> None:
    """Its live updates (one per cancelled registration, and the seats) are published
    at once under one deadline, not one after another with a timeout each."""
    organizer = await with_role(api, environment.config.database_url, "organizer")
    people = await asyncio.gather(*(sign_up(api) for _ in range(12)))
    async with (
        private_redis(tmp_path) as redis,
        private_database() as database,
        events_subgraph(environment, database, redis.url, tmp_path / "logs") as events,
    ):
        event_id = await published_event(events.client, organizer, capacity=100)
        for person in people:
            await events.client.data(REGISTER, {"id": event_id}, person.token)
        redis.freeze()
        try:
            started = time.monotonic()
            body = await asyncio.wait_for(
                events.client.execute(CANCEL_EVENT, {"id": event_id}, organizer.token), 30
            )
            elapsed = time.monotonic() - started
        finally:
            redis.thaw()
        assert "errors" not in body, body
        # Published one after another, 13 updates would take 13 s (1 s timeout each);
        # together they are abandoned at the 2 s deadline.
        assert elapsed < 8, f"the cancellation took {elapsed:.1f} s"
