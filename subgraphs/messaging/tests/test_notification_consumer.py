"""The notification consumer survives being killed mid-stream: nothing lost, nothing twice.

A messaging process of the test's own (its own database and Redis prefix, so that
no other consumer of the stack shares its consumer group) reads a real Redis stream
of registration events; the test kills it with SIGKILL partway and starts another.
"""

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis

from shared.eventbus import DomainEvent, stream_name
from shared.migrations import upgrade
from subgraphs.messaging.tests.support import fetch_value
from tests.support.environment import StackEnvironment, database_url, run_as_admin
from tests.support.waiting import eventually
from tools.stack import Process, Stack, free_port

EVENTS = 1000


@asynccontextmanager
async def private_database() -> AsyncIterator[str]:
    name = f"meetinity_test_notify_{uuid.uuid4().hex[:10]}"
    await run_as_admin(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(name)
    finally:
        await run_as_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class MessagingProcesses:
    """Messaging subgraph processes on a private database and Redis prefix."""

    def __init__(self, environment: StackEnvironment, database: str, prefix: str, logs: Path):
        config = dataclasses.replace(
            environment.config,
            database_url=database,
            redis_prefix=prefix,
            ports=dict(environment.config.ports),
            log_dir=logs,
            # Nothing listens there: mails wait in their table, which is what we count.
            env={**environment.config.env, "SMTP_PORT": str(free_port())},
        )
        self.stack = Stack(config)

    async def start(self) -> Process:
        process = self.stack.start_subgraph("messaging", port=free_port())
        await asyncio.to_thread(self.stack.wait_ready)
        return process

    async def kill(self, process: Process) -> None:
        process.popen.kill()  # SIGKILL: no shutdown, no chance to acknowledge anything
        await asyncio.to_thread(process.popen.wait)
        self.stack.processes.remove(process)

    async def stop(self) -> None:
        await asyncio.to_thread(self.stack.stop)


def registration_confirmed(user_id: uuid.UUID, event_id: uuid.UUID) -> DomainEvent:
    registration_id = uuid.uuid4()
    return DomainEvent(
        id=uuid.uuid4(),
        type="registration.confirmed",
        aggregate_id=str(registration_id),
        occurred_at=datetime.now(UTC),
        payload={
            "registration_id": str(registration_id),
            "event_id": str(event_id),
            "user_id": str(user_id),
            "status": "confirmed",
            "change": "CONFIRMED",
        },
    )


async def test_a_consumer_killed_mid_stream_loses_nothing_and_repeats_nothing(
    environment: StackEnvironment, tmp_path: Path
) -> None:
    # Under the environment's prefix, so its clean-up removes these streams too.
    prefix = f"{environment.config.redis_prefix}:consumer-{uuid.uuid4().hex[:6]}"
    wants_email, opted_out, event_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    redis = Redis.from_url(environment.config.redis_url, decode_responses=True)
    pipeline = redis.pipeline(transaction=False)
    published = DomainEvent(
        uuid.uuid4(),
        "event.published",
        str(event_id),
        datetime.now(UTC),
        {"event_id": str(event_id), "title": "Crash Night", "starts_at": "2030-01-01T19:00+00:00"},
    )
    events = [published] + [
        registration_confirmed(wants_email if n % 2 else opted_out, event_id) for n in range(EVENTS)
    ]
    for event in events:
        pipeline.xadd(stream_name(prefix, "events"), event.to_stream_fields())  # type: ignore[arg-type]
    await pipeline.execute()

    async with private_database() as database:
        processes = MessagingProcesses(environment, database, prefix, tmp_path / "logs")
        try:
            await asyncio.to_thread(upgrade, "messaging", database)
            await fetch_value(
                database,
                "INSERT INTO messaging.notification_preferences (user_id, kind, email) "
                "VALUES ($1, 'registration_confirmed', false)",
                opted_out,
            )
            first = await processes.start()

            async def notified() -> int:
                count = await fetch_value(database, "SELECT count(*) FROM messaging.notifications")
                assert isinstance(count, int)
                return count

            async def some_but_not_all() -> bool:
                return await notified() >= 50

            await eventually(some_but_not_all, "the consumer to be partway through")
            await processes.kill(first)
            at_the_kill = await notified()
            assert at_the_kill < EVENTS, "the consumer finished before it could be killed"

            await processes.start()

            async def all_notified() -> bool:
                return await notified() >= EVENTS

            # The dead consumer's unacknowledged events are claimed after they idled 30 s.
            await eventually(all_notified, "every registration's notification", within=120)
            await asyncio.sleep(1)
            assert await notified() == EVENTS
            distinct = await fetch_value(
                database, "SELECT count(DISTINCT registration_id) FROM messaging.notifications"
            )
            assert distinct == EVENTS
            mails = await fetch_value(
                database,
                "SELECT count(*) FROM messaging.outgoing_mail WHERE user_id = $1",
                wants_email,
            )
            assert mails == EVENTS // 2
            assert (
                await fetch_value(
                    database,
                    "SELECT count(*) FROM messaging.outgoing_mail WHERE user_id = $1",
                    opted_out,
                )
                == 0
            )
            titles = await fetch_value(
                database, "SELECT array_agg(DISTINCT title) FROM messaging.notifications"
            )
            assert titles == ["You're in: Crash Night"]
        finally:
            await processes.stop()
            await redis.delete(stream_name(prefix, "events"))
            await redis.aclose()
