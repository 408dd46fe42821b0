"""Nothing is kept for ever, and nothing still needed is thrown away.

Streams are trimmed by age but never past an entry a consumer group has not
acknowledged or not read; the age of what a group still needs is a metric. Published
outbox rows and the ids of events applied long ago are purged (an entry a consumer gets
back after it was trimmed: test_poison_events). Consumers that left and hold nothing
are removed from their group.
"""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.eventbus import DomainEvent, purge_outbox, trim_stream
from shared.state_metrics import stream_groups_reader
from subgraphs.events.models import outbox
from subgraphs.events.tests.test_outbox import StreamFixture, domain_event, running, streams
from subgraphs.events.tests.test_people_projection import fetch
from tests.support.environment import StackEnvironment

__all__ = ["streams"]  # the fixture, shared with test_outbox

MINUTE_MS = 60_000


async def add_at(streams: StreamFixture, milliseconds: int) -> str:
    """An entry as Redis would have added it at that time (its id)."""
    fields: Any = domain_event().to_stream_fields()
    return str(await streams.redis.xadd(streams.stream, fields, id=f"{milliseconds}-0"))


async def stream_ids(streams: StreamFixture) -> list[str]:
    entries: Any = await streams.redis.xrange(streams.stream)
    return [str(entry_id) for entry_id, _ in entries]


async def lag_seconds(streams: StreamFixture, group: str) -> float:
    families = await stream_groups_reader("test", streams.redis, streams.stream)()
    [family] = [f for f in families if f.name == "meetinity_stream_consumer_lag_seconds"]
    [sample] = [s for s in family.samples if s.labels["group"] == group]
    return float(sample.value)


async def test_a_stream_is_trimmed_by_age_but_never_past_what_a_group_still_needs(
    streams: StreamFixture,
) -> None:
    redis, stream = streams.redis, streams.stream
    old = int(time.time() * 1000) - 10 * MINUTE_MS
    old_ids = [await add_at(streams, old + n) for n in range(4)]
    await redis.xgroup_create(stream, "caught-up", id="0")
    await redis.xgroup_create(stream, "slow", id="0")
    recent_ids = [await streams.add(domain_event()) for _ in range(2)]
    # One group read and acknowledged everything; the other read two old entries and
    # acknowledged only the first (it crashed, say), and has not read the rest yet.
    delivered: Any = await redis.xreadgroup("caught-up", "c", {stream: ">"})
    await redis.xack(stream, "caught-up", *[entry_id for entry_id, _ in delivered[0][1]])
    await redis.xreadgroup("slow", "s", {stream: ">"}, count=2)
    await redis.xack(stream, "slow", old_ids[0])

    assert await lag_seconds(streams, "caught-up") == 0
    assert await lag_seconds(streams, "slow") >= 10 * 60

    # Kept a minute: every old entry is due, but the slow group still needs old_ids[1].
    assert await trim_stream(redis, stream, retention_seconds=60) == 1
    assert await stream_ids(streams) == old_ids[1:] + recent_ids

    await redis.xack(stream, "slow", old_ids[1])
    delivered = await redis.xreadgroup("slow", "s", {stream: ">"})
    await redis.xack(stream, "slow", *[entry_id for entry_id, _ in delivered[0][1]])
    assert await lag_seconds(streams, "slow") == 0
    assert await trim_stream(redis, stream, retention_seconds=60) == 3
    assert await stream_ids(streams) == recent_ids  # younger than the retention


async def test_published_outbox_rows_are_purged_after_their_retention(
    streams: StreamFixture, environment: StackEnvironment
) -> None:
    database = environment.config.database_url
    now = datetime.now(UTC)
    ids = {name: uuid.uuid4() for name in ("published long ago", "just published", "unsent")}
    for name, published_at in (
        ("published long ago", now - timedelta(days=2)),
        ("just published", now),
        ("unsent", None),  # however old, an unsent row waits for the relay
    ):
        await fetch(
            database,
            "INSERT INTO events.outbox (id, type, aggregate_id, version, payload, occurred_at,"
            " published_at) VALUES ($1, 'test.kept', 'x', 1, '{}', $2, $3)",
            ids[name], now - timedelta(days=3), published_at,
        )  # fmt: skip
    try:
        assert await purge_outbox(streams.db, outbox, retention_seconds=24 * 3600) >= 1
        left = await fetch(
            database, "SELECT id FROM events.outbox WHERE id = ANY($1)", list(ids.values())
        )
        assert {row["id"] for row in left} == {ids["just published"], ids["unsent"]}
    finally:
        await fetch(database, "DELETE FROM events.outbox WHERE type = 'test.kept'")


async def test_old_processed_ids_are_purged_but_not_one_a_pending_entry_may_need(
    streams: StreamFixture, environment: StackEnvironment
) -> None:
    database = environment.config.database_url
    now = datetime.now(UTC)

    async def nothing(session: AsyncSession, event: DomainEvent) -> None:
        pass

    consumer = streams.consumer(nothing)
    await consumer.ensure_group()
    # An entry from three weeks ago, applied then but not acknowledged (a crash).
    three_weeks = now - timedelta(days=21)
    pending_id = await add_at(streams, int(three_weeks.timestamp() * 1000))
    await streams.redis.xreadgroup(streams.group, "consumer-1", {streams.stream: ">"})
    applied = {"three weeks ago": uuid.uuid4(), "yesterday": uuid.uuid4()}
    for name, when in (("three weeks ago", three_weeks), ("yesterday", now - timedelta(days=1))):
        await fetch(
            database,
            "INSERT INTO events.processed_events (consumer, event_id, processed_at)"
            " VALUES ($1, $2, $3)",
            streams.group, applied[name], when,
        )  # fmt: skip
    consumer.processed_retention_seconds = 14 * 24 * 3600
    assert await consumer.purge_processed() == 0  # the pending entry may be that one
    assert await streams.processed_ids() == set(applied.values())

    await streams.redis.xack(streams.stream, streams.group, pending_id)
    assert await consumer.purge_processed() == 1
    assert await streams.processed_ids() == {applied["yesterday"]}


async def test_consumers_that_left_holding_nothing_are_removed_from_the_group(
    streams: StreamFixture,
) -> None:
    async def nothing(session: AsyncSession, event: DomainEvent) -> None:
        pass

    redis, stream, group = streams.redis, streams.stream, streams.group
    await streams.consumer(nothing).ensure_group()
    await streams.add(domain_event())
    # An earlier process that read nothing, and one that died holding an entry.
    await redis.xgroup_createconsumer(stream, group, "gone-empty-handed")
    await redis.xreadgroup(group, "gone-holding", {stream: ">"}, count=1)
    await asyncio.sleep(0.3)
    consumer = streams.consumer(nothing)
    consumer.forget_consumers_idle_ms = 200

    async def names() -> set[str]:
        consumers: Any = await redis.xinfo_consumers(stream, group)
        return {c["name"] for c in consumers}

    async with running(consumer):
        for _ in range(100):
            if "gone-empty-handed" not in await names():
                break
            await asyncio.sleep(0.05)
    # The one holding an entry stays until another consumer claims it.
    assert await names() == {"gone-holding", "consumer-1"}
