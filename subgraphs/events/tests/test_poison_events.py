"""One bad event never stops a consumer nor holds up the events behind it.

An entry that cannot be read, or whose handler keeps failing, ends in the stream's
dead-letter stream (acknowledged, with its error) after a bounded number of
deliveries; an outage (a pool timeout) is waited out and the event applied after.
"""

import asyncio
import uuid
from typing import Any

import sqlalchemy.exc
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.eventbus import DomainEvent, StreamConsumer
from subgraphs.events.models import processed_events
from subgraphs.events.tests.test_outbox import (
    StreamFixture,
    domain_event,
    running,
    streams,
)
from tests.support.metrics import counter_value

__all__ = ["streams"]  # the fixture, shared with test_outbox


async def dead_letters(streams: StreamFixture) -> list[dict[str, str]]:
    entries: Any = await streams.redis.xrange(f"{streams.stream}:dead-letters")
    return [fields for _, fields in entries]


def quick_retries(consumer: StreamConsumer, max_deliveries: int = 3) -> StreamConsumer:
    consumer.max_deliveries = max_deliveries
    consumer.redelivery_idle_ms = 100
    return consumer


async def test_an_unreadable_entry_is_dead_lettered_and_the_next_event_is_applied(
    streams: StreamFixture,
) -> None:
    applied: list[uuid.UUID] = []

    async def apply(session: AsyncSession, event: DomainEvent) -> None:
        applied.append(event.id)

    # An older producer's entry (no occurred_at) and one with a broken id.
    await streams.redis.xadd(streams.stream, {"id": str(uuid.uuid4()), "type": "old.format"})
    broken = {**domain_event().to_stream_fields(), "id": "not-a-uuid"}
    await streams.redis.xadd(streams.stream, broken)  # type: ignore[arg-type]
    good = domain_event()
    await streams.add(good)
    async with running(streams.consumer(apply)):
        await streams.all_acknowledged()
    assert applied == [good.id]
    letters = await dead_letters(streams)
    assert [letter["type"] for letter in letters] == ["old.format", "test.happened"]
    assert {letter["dead_letter_reason"] for letter in letters} == {"malformed"}
    assert "KeyError" in letters[0]["dead_letter_error"]
    assert "ValueError" in letters[1]["dead_letter_error"]


async def test_an_event_whose_handler_keeps_failing_is_dead_lettered_after_n_deliveries(
    streams: StreamFixture,
) -> None:
    applied: list[uuid.UUID] = []
    attempts: list[uuid.UUID] = []
    poison, after = domain_event("test.poison"), domain_event()

    async def apply(session: AsyncSession, event: DomainEvent) -> None:
        attempts.append(event.id)
        if event.id == poison.id:
            # A real IntegrityError: the consumer recorded this id a moment ago.
            await session.execute(
                insert(processed_events).values(consumer=streams.group, event_id=event.id)
            )
        applied.append(event.id)

    await streams.add(poison)
    await streams.add(after)
    async with running(quick_retries(streams.consumer(apply))):
        await streams.all_acknowledged()
    # The event behind the poison one did not wait for it to be given up on.
    assert applied == [after.id]
    assert attempts.count(poison.id) == 3
    assert attempts.index(after.id) == 1
    [letter] = await dead_letters(streams)
    assert letter["id"] == str(poison.id)
    assert letter["dead_letter_reason"] == "failed"
    assert letter["dead_letter_deliveries"] == "3"
    assert letter["dead_letter_error"].startswith("IntegrityError")
    assert await streams.processed_ids() == {after.id}


async def test_a_pool_timeout_is_waited_out_and_the_event_applied_afterwards(
    streams: StreamFixture,
) -> None:
    applied: list[uuid.UUID] = []
    timeouts = 0

    async def apply(session: AsyncSession, event: DomainEvent) -> None:
        nonlocal timeouts
        if timeouts < 2:
            timeouts += 1
            raise sqlalchemy.exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached")
        applied.append(event.id)

    first, second = domain_event(), domain_event()
    await streams.add(first)
    await streams.add(second)
    async with running(quick_retries(streams.consumer(apply), max_deliveries=2)):
        await streams.all_acknowledged()
    # An outage is nobody's fault: it does not count towards dead-lettering.
    assert applied == [first.id, second.id]
    assert await dead_letters(streams) == []


async def test_an_entry_trimmed_after_delivery_is_acknowledged_and_skipped(
    streams: StreamFixture,
) -> None:
    applied: list[uuid.UUID] = []

    async def apply(session: AsyncSession, event: DomainEvent) -> None:
        applied.append(event.id)

    trimmed, kept = domain_event(), domain_event()
    trimmed_id = await streams.add(trimmed)
    await streams.add(kept)
    # Delivered to this consumer, then trimmed before it was acknowledged (a crash).
    await streams.consumer(apply).ensure_group()
    await streams.redis.xreadgroup(streams.group, "consumer-1", {streams.stream: ">"}, count=1)
    await streams.redis.xdel(streams.stream, trimmed_id)
    before = counter_value("meetinity_domain_events_trimmed_total", "test", streams.group)
    async with running(streams.consumer(apply)):
        await streams.all_acknowledged()
        await asyncio.sleep(0)
    assert applied == [kept.id]
    assert await streams.pending_ids() == []
    after = counter_value("meetinity_domain_events_trimmed_total", "test", streams.group)
    assert after - before == 1
