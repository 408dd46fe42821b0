"""Reading a subgraph's domain-event stream in Redis, as a consumer would see it."""

import json
from typing import Any

import redis.asyncio as redis

from tests.support.environment import StackEnvironment
from tests.support.waiting import eventually

StreamEvent = tuple[str, str, dict[str, Any]]  # type, version, payload


async def events_about(
    environment: StackEnvironment, producer: str, aggregate_id: str, count: int, what: str
) -> list[StreamEvent]:
    """The first `count` events about `aggregate_id` in `producer`'s stream, waited for."""
    stream = f"{environment.config.redis_prefix}:domain-events:{producer}"
    client = redis.Redis.from_url(environment.config.redis_url, decode_responses=True)

    async def found() -> list[StreamEvent]:
        entries: Any = await client.xrange(stream)
        about = [
            (fields["type"], fields["version"], json.loads(fields["payload"]))
            for _, fields in entries
            if fields["aggregate_id"] == aggregate_id
        ]
        return about[:count] if len(about) >= count else []

    try:
        events: list[StreamEvent] = await eventually(found, what)
        return events
    finally:
        await client.aclose()
