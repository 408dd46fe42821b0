"""Live updates for subscriptions, fanned out through Redis pub/sub with `broadcaster`.

Whichever replica commits a change publishes it; every replica holding a
subscriber for that channel receives it, so subscriptions scale out freely.
Publishing is best effort: a live update lost while Redis is down is never
allowed to fail the write that caused it (domain events go through the outbox).

`broadcaster` 0.3.1 carries the messages; this module fixes what it gets wrong:

- Its `subscribe` checks, awaits, then assigns: two first subscribers of a channel
  both SUBSCRIBE and the first one's queue is lost. Here a subscriber is registered
  before anything is awaited, and SUBSCRIBE / UNSUBSCRIBE of one channel take turns.
- Its queues are unbounded: one slow WebSocket grows memory without limit. Here each
  subscriber holds at most `queue_size` updates; when full, droppable updates (typing)
  go first, then a subscriber that still cannot keep up is closed (`SubscriberTooSlow`:
  the client subscribes again and gets a fresh snapshot), both counted.
- Updates published while the connection to Redis is down are lost. Here, once the
  listener is connected again, every subscription receives a `Resync` (with the time
  since which updates may be missing) and resends a snapshot.
- Its listener dies with the first exception; here it survives any single message.
"""

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from broadcaster import Broadcast, Event
from broadcaster._backends.redis import RedisBackend
from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.backoff import Backoff
from shared.logs import describe
from shared.metrics import live_subscriptions, live_updates_dropped
from shared.redis_client import redis_client
from shared.telemetry import current_traceparent, delivered

log = logging.getLogger(__name__)

# The listener's own note to every subscriber that it was disconnected; not a channel.
_RESYNC_CHANNEL = "\x00resync"
_DROPPABLE = "_droppable"
# The publisher's trace context rides in the message under this key, removed on receipt.
_TRACEPARENT = "_traceparent"
RESYNC_LOOKBACK_SECONDS = 5.0


@dataclass(frozen=True)
class Resync:
    """The connection to Redis was lost: updates published since `since` may be missing,
    so the subscription should resend a snapshot of its state."""

    since: datetime


class SubscriberTooSlow(Exception):
    """The subscriber fell `queue_size` updates behind and was closed."""


LiveUpdate = dict[str, Any] | Resync


class _Backlog:
    """One subscriber's pending updates: bounded, droppable ones shed first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: deque[tuple[LiveUpdate, bool]] = deque()
        self._arrived = asyncio.Event()
        self.too_slow = False

    def offer(self, item: LiveUpdate, droppable: bool) -> None:
        """Never blocks: the listener serves every subscriber of the process."""
        if self.too_slow:
            return
        if len(self._items) >= self._size:
            if droppable:
                live_updates_dropped.labels("droppable").inc()
                return
            oldest_droppable = next((i for i, (_, d) in enumerate(self._items) if d), None)
            if oldest_droppable is None:
                self.too_slow = True
                self._items.clear()
                live_updates_dropped.labels("subscriber_too_slow").inc()
                self._arrived.set()
                return
            del self._items[oldest_droppable]
            live_updates_dropped.labels("droppable").inc()
        self._items.append((item, droppable))
        self._arrived.set()

    async def get(self) -> LiveUpdate:
        while not self._items:
            if self.too_slow:
                raise SubscriberTooSlow("live updates arrived faster than they were read")
            self._arrived.clear()
            await self._arrived.wait()
        item, _ = self._items.popleft()
        return item


class SafeBroadcast(Broadcast):
    """broadcaster's `Broadcast` with race-free subscriptions, bounded subscriber queues
    and a listener that survives any message (see the module docstring)."""

    def __init__(self, backend: "ResilientRedisBackend", queue_size: int) -> None:
        super().__init__(backend=backend)
        self._queue_size = queue_size
        self._backlogs: dict[str, set[_Backlog]] = {}
        self._subscribed: set[str] = set()
        # SUBSCRIBE and UNSUBSCRIBE of one channel take turns; the count says who still
        # needs the channel's lock, so it is dropped with its last user.
        self._channel_locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def _take_lock(self, channel: str) -> asyncio.Lock:
        lock, users = self._channel_locks.get(channel) or (asyncio.Lock(), 0)
        self._channel_locks[channel] = (lock, users + 1)
        return lock

    def _release_lock(self, channel: str) -> None:
        lock, users = self._channel_locks[channel]
        if users == 1:
            del self._channel_locks[channel]
        else:
            self._channel_locks[channel] = (lock, users - 1)

    async def _listener(self) -> None:
        while True:
            event = await self._backend.next_published()
            try:
                self._dispatch(event)
            except Exception as exc:
                log.exception(
                    "live update not delivered", extra={"fields": {"error": describe(exc)}}
                )

    def _dispatch(self, event: Event) -> None:
        if event.channel == _RESYNC_CHANNEL:
            since = Resync(datetime.fromisoformat(event.message))
            for backlogs in self._backlogs.values():
                for backlog in backlogs:
                    backlog.offer(since, droppable=False)
            return
        subscribers = self._backlogs.get(event.channel)
        if not subscribers:
            return
        message = json.loads(event.message)  # once, whatever the number of subscribers
        droppable = bool(message.pop(_DROPPABLE, False))
        delivered(
            f"deliver {event.channel}",
            message.pop(_TRACEPARENT, ""),
            {
                "messaging.destination.name": event.channel,
                "meetinity.subscribers": len(subscribers),
            },
        )
        for backlog in list(subscribers):
            backlog.offer(message, droppable)

    @asynccontextmanager
    async def subscribe_backlog(self, channel: str) -> AsyncIterator[_Backlog]:
        backlog = _Backlog(self._queue_size)
        # Registered before any await: a concurrent first subscriber cannot lose it.
        self._backlogs.setdefault(channel, set()).add(backlog)
        lock = self._take_lock(channel)
        try:
            async with lock:
                if channel not in self._subscribed:
                    await self._backend.subscribe(channel)
                    self._subscribed.add(channel)
            yield backlog
        finally:
            backlogs = self._backlogs.get(channel, set())
            backlogs.discard(backlog)
            if not backlogs:
                self._backlogs.pop(channel, None)
            try:
                async with lock:
                    if channel in self._subscribed and channel not in self._backlogs:
                        self._subscribed.discard(channel)
                        await self._backend.unsubscribe(channel)
            except (RedisError, OSError) as exc:
                # The next reconnection subscribes only what is still wanted.
                log.warning("unsubscribe failed", extra={"fields": {"error": describe(exc)}})
            finally:
                self._release_lock(channel)


class ResilientRedisBackend(RedisBackend):
    """broadcaster's Redis backend, fixed in three ways.

    Upstream's listener stops whenever no channel is subscribed, and a SUBSCRIBE sent
    then is preceded by redis-py's health-check PING, whose answer it reads itself:
    two first subscribers, or one racing the listener, read the same connection at
    once and one of them times out or raises. Here the connection stays subscribed to
    `listening_channel` (never published to) from `connect` on, so the listener is the
    connection's only reader and SUBSCRIBE / UNSUBSCRIBE only write. Its listener dies
    with its connection; here it waits and listens again (redis-py reconnects and
    subscribes the channels again) and then tells every subscriber to resync. It reads
    with a timeout and watches redis-py's health-check PINGs, so a Redis that stopped
    answering counts as a lost connection too.
    """

    def __init__(self, redis: Redis, listening_channel: str) -> None:
        self._conn = redis
        self._pubsub = redis.pubsub()
        self._listening_channel = listening_channel
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._listener: asyncio.Task[None] | None = None
        # Times redis-py connected the listening connection again. Its retry reconnects
        # (and subscribes again) within a read when Redis came back quickly, and the
        # read then raises nothing: this count is how the listener learns of it.
        self._reconnections = 0

    async def connect(self) -> None:
        # Subscribed before the listener starts: until then nothing else reads.
        await self._pubsub.subscribe(self._listening_channel)
        connection = self._pubsub.connection
        assert connection is not None  # subscribing connected it
        # Registered once connected: it counts reconnections only.
        connection.register_connect_callback(self._reconnected)
        self._listener = asyncio.create_task(self._pubsub_listener())

    async def subscribe(self, channel: str) -> None:
        await self._pubsub.subscribe(channel)

    def _reconnected(self, connection: Any) -> None:
        self._reconnections += 1

    async def _pubsub_listener(self) -> None:
        backoff = Backoff()
        # Updates published after the last time Redis was heard from may be lost.
        last_heard = time.time()
        disconnected = False
        reconnections = self._reconnections
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
                await self._check_answering()
                if self._reconnections != reconnections:
                    reconnections = self._reconnections
                    disconnected = True  # and updates published meanwhile were lost
                if disconnected:
                    disconnected = False
                    # A transaction committing now may have stamped its rows when it
                    # began: look that much further back.
                    since = datetime.fromtimestamp(
                        last_heard - RESYNC_LOOKBACK_SECONDS, UTC
                    ).isoformat()
                    await self._queue.put(Event(_RESYNC_CHANNEL, since))
                last_heard = time.time()
                backoff.reset()
                if message is not None and message["type"] == "message":
                    self._forward(message)
            except (RedisError, OSError) as exc:
                log.warning(
                    "live updates connection lost", extra={"fields": {"error": describe(exc)}}
                )
                disconnected = True
                await backoff.sleep()

    async def publish_many(self, updates: list[tuple[str, str]]) -> None:
        pipeline = self._conn.pipeline(transaction=False)
        for channel, message in updates:
            pipeline.publish(channel, message)
        await pipeline.execute()

    async def _check_answering(self) -> None:
        """A Redis that stopped answering (frozen, or the path to it black-holed) sends
        nothing and raises nothing: the listener would wait for ever, and updates
        published meanwhile would be lost without a resync. redis-py PINGs a connection
        once it was silent for its health-check interval; a PING unanswered within the
        socket timeout means the connection is dead: drop it (redis-py connects and
        subscribes again on the next read)."""
        connection = self._pubsub.connection
        if connection is None or not connection.health_check_interval:
            return
        overdue = asyncio.get_running_loop().time() - connection.next_health_check
        if overdue > (connection.socket_timeout or 5.0):
            await connection.disconnect(nowait=True)
            raise RedisTimeoutError(f"Redis did not answer a health check for {overdue:.1f} s")

    def _forward(self, message: dict[str, Any]) -> None:
        try:
            event = Event(channel=message["channel"].decode(), message=message["data"].decode())
        except (UnicodeDecodeError, AttributeError, KeyError) as exc:
            log.warning("unreadable live update", extra={"fields": {"error": describe(exc)}})
            return
        self._queue.put_nowait(event)


class PubSub:
    publish_timeout_seconds = 1.0

    def __init__(
        self,
        redis: Redis | str,
        prefix: str,
        *,
        queue_size: int = 100,
        service: str = "meetinity",
    ) -> None:
        """`redis`: a client from `shared.redis_client` without decoding (broadcaster
        decodes itself), or a URL to make one. `queue_size`: updates a subscriber may
        fall behind before it is closed."""
        if isinstance(redis, str):
            redis = redis_client(url=redis, decode_responses=False)
        self._redis = redis
        self._backend = ResilientRedisBackend(redis, f"{prefix}:live-listener")
        self._broadcast = SafeBroadcast(self._backend, queue_size)
        self._prefix = prefix
        self._live = live_subscriptions.labels(service)

    def channel_name(self, channel: str) -> str:
        """The Redis channel a logical channel is published on."""
        return f"{self._prefix}:live:{channel}"

    async def connect(self) -> None:
        await self._broadcast.connect()

    async def disconnect(self) -> None:
        await self._broadcast.disconnect()

    def _encode(self, message: dict[str, Any], droppable: bool) -> str:
        if droppable:
            message = {**message, _DROPPABLE: True}
        if traceparent := current_traceparent():  # the delivery links to this span
            message = {**message, _TRACEPARENT: traceparent}
        return json.dumps(message, default=str)

    async def publish(
        self, channel: str, message: dict[str, Any], *, droppable: bool = False
    ) -> None:
        """`droppable`: an update a slow subscriber can miss (typing), shed first."""
        await self.publish_many([channel], message, droppable=droppable)

    async def publish_many(
        self, channels: list[str], message: dict[str, Any], *, droppable: bool = False
    ) -> None:
        """The same update on several channels (say, each member's inbox), in one round
        trip to Redis."""
        if not channels:
            return
        encoded = self._encode(message, droppable)
        try:
            # A Redis that drops packets must not hold up the write that was just committed.
            async with asyncio.timeout(self.publish_timeout_seconds):
                if len(channels) == 1:
                    await self._broadcast.publish(self.channel_name(channels[0]), encoded)
                    return
                async with self._redis.pipeline(transaction=False) as pipe:
                    for channel in channels:
                        pipe.publish(self.channel_name(channel), encoded)
                    await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning(
                "live update not published",
                extra={"fields": {"channels": channels[:3], "error": describe(exc)}},
            )

    async def publish_each(self, updates: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Several updates (channel, message), each its own, in one round trip under one
        timeout: a change that concerns many people at once (an event cancelled, a
        notification to every attendee)."""
        encoded = [(self.channel_name(channel), self._encode(m, False)) for channel, m in updates]
        if not encoded:
            return
        try:
            async with asyncio.timeout(self.publish_timeout_seconds):
                await self._backend.publish_many(encoded)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning(
                "live update not published",
                extra={"fields": {"updates": len(encoded), "error": describe(exc)}},
            )

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[LiveUpdate]]:
        """Subscribed on entering, so state read inside the block misses no later change.

        Yields the channel's messages, and a `Resync` after the connection to Redis was
        lost; raises `SubscriberTooSlow` if the reader fell too far behind."""
        async with self._broadcast.subscribe_backlog(self.channel_name(channel)) as backlog:

            async def updates() -> AsyncIterator[LiveUpdate]:
                while True:
                    yield await backlog.get()

            with self._live.track_inprogress():
                yield updates()
