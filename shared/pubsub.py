"""Live updates for subscriptions, fanned out through Redis pub/sub with `broadcaster`.

Whichever replica commits a change publishes it; every replica holding a
subscriber for that channel receives it, so subscriptions scale out freely.
Publishing is best effort: a live update lost while Redis is down is never
allowed to fail the write that caused it (domain events go through the outbox).
"""

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from broadcaster import Broadcast
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class PubSub:
    def __init__(self, redis_url: str, prefix: str) -> None:
        self._broadcast = Broadcast(redis_url)
        self._prefix = prefix

    def _channel(self, channel: str) -> str:
        return f"{self._prefix}:live:{channel}"

    async def connect(self) -> None:
        await self._broadcast.connect()

    async def disconnect(self) -> None:
        await self._broadcast.disconnect()

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        try:
            await self._broadcast.publish(self._channel(channel), json.dumps(message, default=str))
        except (RedisError, OSError) as exc:
            log.warning(
                "live update not published",
                extra={"fields": {"channel": channel, "error": repr(exc)}},
            )

    async def subscribe(self, channel: str) -> AsyncIterator[dict[str, Any]]:
        async with self._broadcast.subscribe(self._channel(channel)) as subscriber:
            async for event in subscriber:  # type: ignore[union-attr]
                if event is not None:
                    yield json.loads(event.message)
