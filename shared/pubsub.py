"""Live updates for subscriptions, fanned out through Redis pub/sub with `broadcaster`.

Whichever replica commits a change publishes it; every replica holding a
subscriber for that channel receives it, so subscriptions scale out freely.
Publishing is best effort: a live update lost while Redis is down is never
allowed to fail the write that caused it (domain events go through the outbox).
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from broadcaster import Broadcast, Event
from broadcaster._backends.redis import RedisBackend
from redis.exceptions import RedisError

from shared.backoff import Backoff
from shared.logs import describe
from shared.metrics import live_subscriptions
from shared.telemetry import current_traceparent, delivered

log = logging.getLogger(__name__)


class ResilientRedisBackend(RedisBackend):
    """broadcaster's Redis backend, fixed in two ways.

    Upstream marks itself ready *before* sending SUBSCRIBE, so its listener can find
    no channel yet, stop, and never listen again; here it is ready only after. And
    upstream's listener dies with its connection; here it waits and listens again
    (redis-py reconnects and subscribes the channels again).
    """

    async def subscribe(self, channel: str) -> None:
        await self._pubsub.subscribe(channel)
        self._ready.set()

    async def _pubsub_listener(self) -> None:
        backoff = Backoff()
        while True:
            await self._ready.wait()
            try:
                async for message in self._pubsub.listen():
                    backoff.reset()
                    if message["type"] == "message":
                        await self._queue.put(
                            Event(
                                channel=message["channel"].decode(),
                                message=message["data"].decode(),
                            )
                        )
            except (RedisError, OSError) as exc:
                log.warning(
                    "live updates connection lost", extra={"fields": {"error": describe(exc)}}
                )
                await backoff.sleep()
                continue
            if not self._pubsub.subscribed:
                self._ready.clear()


# The publisher's trace context travels inside the message under this key; the
# subscriber side removes it before the message reaches a resolver.
TRACE_KEY = "_traceparent"


class PubSub:
    publish_timeout_seconds = 1.0

    def __init__(self, redis_url: str, prefix: str, service: str = "meetinity") -> None:
        self._broadcast = Broadcast(backend=ResilientRedisBackend(redis_url))
        self._prefix = prefix
        self._live = live_subscriptions.labels(service)

    def _channel(self, channel: str) -> str:
        return f"{self._prefix}:live:{channel}"

    async def connect(self) -> None:
        await self._broadcast.connect()

    async def disconnect(self) -> None:
        await self._broadcast.disconnect()

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        try:
            # A Redis that drops packets must not hold up the write that was just committed.
            async with asyncio.timeout(self.publish_timeout_seconds):
                traced = (
                    {**message, TRACE_KEY: traceparent}
                    if (traceparent := current_traceparent())
                    else message
                )
                await self._broadcast.publish(
                    self._channel(channel), json.dumps(traced, default=str)
                )
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning(
                "live update not published",
                extra={"fields": {"channel": channel, "error": describe(exc)}},
            )

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """Subscribed on entering, so state read inside the block misses no later change."""
        async with self._broadcast.subscribe(self._channel(channel)) as subscriber:

            async def messages() -> AsyncIterator[dict[str, Any]]:
                async for event in subscriber:  # type: ignore[union-attr]
                    if event is not None:
                        message = json.loads(event.message)
                        delivered(
                            f"deliver {channel}",
                            message.pop(TRACE_KEY, ""),
                            {"messaging.destination.name": channel},
                        )
                        yield message

            with self._live.track_inprogress():
                yield messages()
