"""A consumer process killed while it held entries takes them up itself when it starts
again under the same `CONSUMER_NAME`: at once, not after the redelivery delay, and
without leaving a new name in the group."""

import asyncio
import dataclasses
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from shared.eventbus import stream_name
from subgraphs.events.tests.test_outbox import private_database, private_redis
from subgraphs.events.tests.test_people_projection import person_copy
from tests.support.environment import StackEnvironment
from tests.support.waiting import eventually
from tools.stack import Stack, free_port


def visibility_event(user_id: str, visibility: str, version: int) -> dict[str, str]:
    return {
        "id": str(uuid.uuid4()), "type": "user.profile_updated", "aggregate_id": user_id,
        "version": str(version), "occurred_at": datetime.now(UTC).isoformat(),
        "payload": json.dumps({"user_id": user_id, "changed": {"visibility": visibility}}),
    }  # fmt: skip


async def test_a_restarted_events_process_takes_up_the_entries_it_held(
    environment: StackEnvironment, tmp_path: Path
) -> None:
    async with private_redis(tmp_path) as redis, private_database() as database:
        config = dataclasses.replace(
            environment.config,
            database_url=database,
            redis_url=redis.url,
            ports=dict(environment.config.ports),
            log_dir=tmp_path / "logs",
            # Redelivery to any consumer only after an hour: what the restarted process
            # applies within the test, it took up as its own.
            env={**environment.config.env, "CONSUMER_NAME": "events-a",
                 "EVENT_REDELIVERY_SECONDS": "3600"},
        )  # fmt: skip
        events = Stack(config)
        port = free_port()
        client = Redis.from_url(redis.url, decode_responses=True)
        stream = stream_name(config.redis_prefix, "users")
        try:
            first = events.start_subgraph("events", port=port)
            await asyncio.to_thread(events.wait_ready)

            async def group_made() -> bool:
                groups: Any = (
                    await client.xinfo_groups(stream) if await client.exists(stream) else []
                )
                return any(group["name"] == "events" for group in groups)

            await eventually(group_made, "the events process to join the users stream")
            first.popen.kill()
            first.popen.wait()
            events.processes.remove(first)

            # Delivered to it just before it died, never acknowledged; then one more.
            someone, another = str(uuid.uuid4()), str(uuid.uuid4())
            for fields in (visibility_event(someone, "private", 2),
                           visibility_event(someone, "members", 3)):  # fmt: skip
                await client.xadd(stream, fields)  # type: ignore[arg-type]
            await client.xreadgroup("events", "events-a", {stream: ">"})
            await client.xadd(stream, visibility_event(another, "public", 1))  # type: ignore[arg-type]

            events.start_subgraph("events", port=port)
            await asyncio.to_thread(events.wait_ready)

            async def all_acknowledged() -> bool:
                [group] = await client.xinfo_groups(stream)
                newest: Any = await client.xrevrange(stream, count=1)
                return bool(group["pending"] == 0 and group["last-delivered-id"] == newest[0][0])

            await eventually(all_acknowledged, "the restarted process to take up its entries")
            assert await person_copy(database, someone) == ("members", 3)
            assert await person_copy(database, another) == ("public", 1)
            consumers: Any = await client.xinfo_consumers(stream, "events")
            assert [consumer["name"] for consumer in consumers] == ["events-a"]
        finally:
            await client.aclose()
            await asyncio.to_thread(events.stop)
