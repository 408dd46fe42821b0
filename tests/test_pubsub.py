"""The live-updates wrapper around broadcaster: correct under concurrency, bounded per
subscriber, and honest about what a Redis disconnection may have lost."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from shared.pubsub import PubSub, Resync, SubscriberTooSlow
from shared.redis_client import redis_client
from shared.settings import Settings
from subgraphs.events.tests.test_outbox import private_redis
from tests.support.environment import TEST_REDIS_URL
from tests.support.metrics import counter_value
from tests.support.waiting import eventually


@asynccontextmanager
async def live_updates(
    redis: str | Redis = TEST_REDIS_URL, **options: Any
) -> AsyncIterator[PubSub]:
    pubsub = PubSub(redis, f"test-pubsub-{uuid.uuid4().hex[:8]}", **options)
    await pubsub.connect()
    try:
        yield pubsub
    finally:
        await pubsub.disconnect()


async def next_update(updates: AsyncIterator[Any], within: float = 5.0) -> Any:
    return await asyncio.wait_for(anext(updates), within)


async def test_two_concurrent_first_subscribers_both_receive_updates_and_leave_cleanly() -> None:
    async with live_updates() as pubsub:
        both_in = asyncio.Barrier(3)

        async def subscriber() -> Any:
            async with pubsub.subscribe("room") as updates:
                await both_in.wait()
                return await next_update(updates)

        # Both enter at once: each finds the channel without subscribers.
        first, second = (asyncio.create_task(subscriber()) for _ in range(2))
        await asyncio.wait_for(both_in.wait(), 5)
        await pubsub.publish("room", {"n": 1})
        assert await first == {"n": 1}
        assert await second == {"n": 1}  # and neither teardown raised KeyError


async def test_a_slow_subscriber_sheds_droppable_updates_first_then_is_closed() -> None:
    async with (
        live_updates(queue_size=5) as pubsub,
        pubsub.subscribe("chat") as slow,
        pubsub.subscribe("chat") as fast,
    ):
        seen_by_fast: list[Any] = []

        async def read_fast() -> None:
            async for update in fast:
                seen_by_fast.append(update)

        async def delivered(last: dict[str, int]) -> None:
            """Once the fast reader has `last`, the slow one was offered everything too."""
            await eventually(lambda: asyncio.sleep(0, last in seen_by_fast), f"{last}", 5)

        reader = asyncio.create_task(read_fast())

        dropped_before = counter_value("meetinity_live_updates_dropped_total", "droppable")
        for n in range(3):
            await pubsub.publish("chat", {"message": n})
        for n in range(10):
            await pubsub.publish("chat", {"typing": n}, droppable=True)
        await pubsub.publish("chat", {"message": 3})
        await delivered({"message": 3})
        received = [await next_update(slow) for _ in range(5)]
        # Messages all kept; of the typing notices, only what fitted.
        assert received == [
            {"message": 0}, {"message": 1}, {"message": 2}, {"typing": 1}, {"message": 3},
        ]  # fmt: skip
        dropped = counter_value("meetinity_live_updates_dropped_total", "droppable")
        assert dropped - dropped_before >= 9  # the fast reader may have shed some too

        closed_before = counter_value("meetinity_live_updates_dropped_total", "subscriber_too_slow")
        for n in range(6):
            await pubsub.publish("chat", {"message": 10 + n})
        await delivered({"message": 15})
        with pytest.raises(SubscriberTooSlow):
            await next_update(slow)
        closed = counter_value("meetinity_live_updates_dropped_total", "subscriber_too_slow")
        assert closed - closed_before == 1
        assert not reader.done()
        reader.cancel()


async def test_subscribers_are_told_to_resync_once_redis_is_back(tmp_path: Path) -> None:
    async with (
        private_redis(tmp_path) as redis,
        live_updates(redis.url) as pubsub,
        pubsub.subscribe("seats") as updates,
    ):
        before_outage = datetime.now(UTC)
        await redis.stop()
        await pubsub.publish("seats", {"lost": True})  # logged, not raised
        await redis.start()
        resync = await next_update(updates, within=15)
        assert isinstance(resync, Resync)
        # Since the listener last heard from Redis: just before the outage.
        slack = timedelta(seconds=10)
        assert before_outage - slack <= resync.since <= before_outage
        await pubsub.publish("seats", {"after": True})
        assert await next_update(updates) == {"after": True}


async def test_the_listener_survives_an_unreadable_message() -> None:
    async with live_updates() as pubsub:
        raw = Redis.from_url(TEST_REDIS_URL)
        try:
            async with pubsub.subscribe("feed") as updates:
                channel = pubsub.channel_name("feed")
                await raw.publish(channel, b"\xff\xfe not utf-8")
                await raw.publish(channel, "not json")
                await pubsub.publish("feed", {"ok": True})
                assert await next_update(updates) == {"ok": True}
        finally:
            await raw.aclose()


async def test_subscribers_are_told_to_resync_after_redis_froze_and_thawed(tmp_path: Path) -> None:
    """A frozen Redis closes nothing and answers nothing: the listener notices from its
    unanswered health checks, and once Redis answers again subscribers resync."""
    quick = Settings(redis_socket_timeout_seconds=1.0, redis_health_check_seconds=1)
    async with private_redis(tmp_path) as redis:
        client = redis_client(quick, url=redis.url, decode_responses=False)
        async with live_updates(client) as pubsub, pubsub.subscribe("seats") as updates:
            await pubsub.publish("seats", {"before": True})
            assert await next_update(updates) == {"before": True}
            redis.freeze()
            try:
                await asyncio.sleep(4)  # health checks go unanswered
                await pubsub.publish("seats", {"lost": True})  # times out, logged
            finally:
                redis.thaw()
            assert isinstance(await next_update(updates, within=15), Resync)
            await pubsub.publish("seats", {"after": True})
            assert await next_update(updates) == {"after": True}


async def test_first_subscribers_arriving_together_after_a_quiet_spell_all_get_updates() -> None:
    """Once the connection has been quiet for the health-check interval, a SUBSCRIBE on
    it is preceded by a PING: subscribers arriving together, and the listener, must not
    read each other's answers (seen as a subscription failing to start under load)."""
    quick = Settings(redis_socket_timeout_seconds=1.0, redis_health_check_seconds=1)
    client = redis_client(quick, url=TEST_REDIS_URL, decode_responses=False)
    async with live_updates(client) as pubsub:

        async def subscriber(channel: str) -> Any:
            async with pubsub.subscribe(channel) as updates:
                await pubsub.publish(channel, {"on": channel})
                return await next_update(updates)

        for spell in range(3):
            await asyncio.sleep(1.2)  # the health check falls due
            channels = [f"spell-{spell}-{n}" for n in range(4)]
            received = await asyncio.gather(*(subscriber(c) for c in channels + channels))
            assert received == [{"on": c} for c in channels + channels]
