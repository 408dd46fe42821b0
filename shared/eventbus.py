"""Domain events between subgraphs: a transactional outbox relayed to Redis streams.

A producer writes its event into its own `outbox` table in the same transaction
as the change, so a committed change always has its event and a rolled-back one
never does. `OutboxRelay` then copies unsent rows to the producer's Redis stream
(at least once: a crash between XADD and marking the row sent sends it again;
the event id is the idempotency key). `StreamConsumer` reads a stream through a
consumer group, records each event id it handled in the same transaction as its
effect, and acknowledges only afterwards, so a consumer that crashes resumes
where it stopped and never applies an event twice.

Every event carries `version`, a number that grows with every change of its
aggregate: entries can arrive out of order (parallel consumers, `XAUTOCLAIM`,
retries), so projections apply an event only if it is newer than what they hold.

One event failing never holds up the others: an entry that cannot be parsed goes
straight to the stream's dead-letter stream; one whose handler raises stays pending
and is delivered again after `redelivery_idle_ms`, and after `max_deliveries`
deliveries it is dead-lettered (with its error) and acknowledged. An outage of Redis
or PostgreSQL is not the event's fault: the consumer waits and tries again. Dead
letters are listed and replayed with `python -m tools dead-letters`.
"""

import asyncio
import json
import logging
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.backoff import Backoff
from shared.db import Database, advisory_lock_key, after_commit, release_advisory_lock
from shared.jobs import heartbeat, woken_within
from shared.logs import describe
from shared.metrics import (
    domain_events_consumed,
    domain_events_dead_lettered,
    domain_events_published,
    domain_events_trimmed,
    retention_removed,
)
from shared.telemetry import TRACEPARENT, consuming, current_traceparent, producing

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)


# The trace context rides in the outbox row's payload under this key rather than in a
# column of its own, so that no subgraph's migrations have to follow; the relay moves
# it to the stream entry's `traceparent` field and consumers never see it in payloads.
OUTBOX_TRACEPARENT_KEY = "_traceparent"


def stream_name(prefix: str, producer: str) -> str:
    """The Redis stream a subgraph publishes its domain events to."""
    return f"{prefix}:domain-events:{producer}"


def dead_letter_stream(stream: str) -> str:
    """Where a stream's consumers put the events they gave up on."""
    return f"{stream}:dead-letters"


def is_outage(error: BaseException) -> bool:
    """Redis or PostgreSQL unreachable or saturated: no fault of the event being handled,
    so it is retried later rather than counted against the event."""
    if isinstance(error, RedisError | OSError | PoolTimeoutError | OperationalError):
        return True
    if isinstance(error, InterfaceError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


class MalformedEvent(ValueError):
    """A stream entry that is not a domain event this code can read."""


@dataclass(frozen=True)
class DomainEvent:
    id: uuid.UUID
    type: str
    aggregate_id: str
    occurred_at: datetime
    payload: dict[str, Any]
    # Grows with every change of the aggregate; 0 for events from before versions existed.
    version: int = 0
    stream_id: str = ""
    # W3C trace context of the request that recorded it ("" when untraced): consumers'
    # spans join that trace (shared.telemetry).
    traceparent: str = ""

    def to_stream_fields(self) -> dict[str, str]:
        return {
            "id": str(self.id),
            "type": self.type,
            "aggregate_id": self.aggregate_id,
            "version": str(self.version),
            "occurred_at": self.occurred_at.isoformat(),
            "payload": json.dumps(self.payload, default=str),
            **({TRACEPARENT: self.traceparent} if self.traceparent else {}),
        }

    @classmethod
    def from_stream(cls, stream_id: str, fields: dict[str, str]) -> "DomainEvent":
        try:
            payload = json.loads(fields["payload"])
            if not isinstance(payload, dict):
                raise TypeError("payload is not an object")
            return cls(
                id=uuid.UUID(fields["id"]),
                type=fields["type"],
                aggregate_id=fields["aggregate_id"],
                occurred_at=datetime.fromisoformat(fields["occurred_at"]),
                payload=payload,
                version=int(fields.get("version") or 0),
                stream_id=stream_id,
                traceparent=fields.get(TRACEPARENT, ""),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise MalformedEvent(describe(exc)) from exc


class Outbox:
    """A subgraph's outbox table, and the signal that wakes its relay after a commit."""

    def __init__(self, metadata: MetaData) -> None:
        self.table = Table(
            "outbox",
            metadata,
            Column("position", BigInteger, Identity(), primary_key=True),
            Column("id", UUID(as_uuid=True), nullable=False, unique=True),
            Column("type", String(100), nullable=False),
            Column("aggregate_id", String(100), nullable=False),
            Column("version", BigInteger, nullable=False, server_default="0"),
            Column("payload", JSONB, nullable=False),
            Column("occurred_at", DateTime(timezone=True), nullable=False),
            Column("published_at", DateTime(timezone=True)),
        )
        # The relay only ever looks for unsent rows, oldest first.
        Index(
            "ix_outbox_unpublished",
            self.table.c.position,
            postgresql_where=self.table.c.published_at.is_(None),
        )
        self.wakeup = asyncio.Event()

    async def record(
        self,
        session: AsyncSession,
        type: str,
        aggregate_id: object,
        payload: dict[str, Any],
        *,
        version: int,
    ) -> uuid.UUID:
        """Records the event in the session's transaction. `version` is the aggregate's
        version after this change (usually its row's `version` column, flushed)."""
        event_id = uuid.uuid4()
        row_payload = json.loads(json.dumps(payload, default=str))
        if traceparent := current_traceparent():
            row_payload[OUTBOX_TRACEPARENT_KEY] = traceparent
        await session.execute(
            insert(self.table).values(
                id=event_id,
                type=type,
                aggregate_id=str(aggregate_id),
                version=version,
                payload=row_payload,
                occurred_at=datetime.now(UTC),
            )
        )
        after_commit(session, self._wake)
        return event_id

    async def _wake(self) -> None:
        self.wakeup.set()


class OutboxRelay:
    """Copies a producer's unsent outbox rows to its stream, oldest first.

    Never inside a database transaction: the relay takes its producer's relay lock (a
    PostgreSQL session advisory lock: one relay at a time per producer, whichever
    replica gets it, so the stream holds each producer's events in commit order), reads
    a batch, publishes it to Redis with no transaction open and no row locked, then
    marks the rows sent. A Redis that stops answering costs a socket timeout with one
    idle connection held, never a transaction idle with row locks in it. A crash
    between XADD and marking sends the batch again (at least once; the event id is the
    consumers' idempotency key).
    """

    batch_size = 200

    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        redis: Redis,
        stream: str,
        service: str,
        poll_seconds: float = 1.0,
    ) -> None:
        self._db = db
        self._outbox = outbox
        self._redis = redis
        self._stream = stream
        self._service = service
        self._poll_seconds = poll_seconds
        # Two replicas of one producer share it; producers never do.
        self._lock_key = advisory_lock_key(f"outbox-relay:{stream}")

    async def run(self) -> None:
        backoff = Backoff()
        while True:
            heartbeat()
            try:
                relayed = await self.relay_batch()
                backoff.reset()
            except Exception as exc:
                if not is_outage(exc):
                    raise
                log.warning(
                    "outbox relay failed, retrying",
                    extra={"fields": {"error": describe(exc), "retry_in_seconds": backoff.delay}},
                )
                await backoff.sleep()
                continue
            if relayed < self.batch_size:
                await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        await woken_within(self._outbox.wakeup, self._poll_seconds)
        self._outbox.wakeup.clear()

    async def relay_batch(self) -> int:
        """Relays one batch; the number of rows sent (0 when another replica relays)."""
        table = self._outbox.table
        async with self._db.autocommit() as connection:
            locked = await connection.scalar(select(func.pg_try_advisory_lock(self._lock_key)))
            if not locked:
                return 0
            try:
                rows = (
                    await connection.execute(
                        select(table)
                        .where(table.c.published_at.is_(None))
                        .order_by(table.c.position)
                        .limit(self.batch_size)
                    )
                ).all()
                if not rows:
                    return 0
                await self._publish([_event_from_outbox_row(row) for row in rows])
                await connection.execute(
                    update(table)
                    .where(table.c.position.in_([row.position for row in rows]))
                    .values(published_at=func.now())
                )
            finally:
                await release_advisory_lock(connection, self._lock_key)
        for row in rows:
            domain_events_published.labels(self._service, row.type).inc()
        return len(rows)

    async def _publish(self, events: list[DomainEvent]) -> None:
        pipeline = self._redis.pipeline(transaction=False)
        for event in events:
            pipeline.xadd(self._stream, event.to_stream_fields())  # type: ignore[arg-type]
        with producing(f"relay {self._stream}", [event.traceparent for event in events]) as span:
            span.set_attribute("messaging.batch.message_count", len(events))
            await pipeline.execute()


def _event_from_outbox_row(row: Any) -> DomainEvent:
    payload = dict(row.payload)
    traceparent = payload.pop(OUTBOX_TRACEPARENT_KEY, "")
    return DomainEvent(
        row.id, row.type, row.aggregate_id, row.occurred_at, payload, row.version,
        traceparent=traceparent,
    )  # fmt: skip


def processed_events_table(metadata: MetaData) -> Table:
    """Event ids a subgraph's consumers have applied: the consumers' idempotency record."""
    return Table(
        "processed_events",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", UUID(as_uuid=True), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


EventHandler = Callable[[AsyncSession, DomainEvent], Awaitable[None]]


def _stream_entries(response: Any) -> list[tuple[str, dict[str, str]]]:
    """The entries of a one-stream XREADGROUP reply, in RESP2 (list) or RESP3 (dict) form."""
    if not response:
        return []
    per_stream = response.values() if isinstance(response, dict) else (r[1] for r in response)
    return [entry for entries in per_stream for entry in entries]


class StreamConsumer:
    """Applies each event of a stream once, through a consumer group; resumes after a crash.

    `consumer` names this process within the group and must survive restarts (it comes
    from settings), so a restarted process takes up the entries it held.
    """

    def __init__(
        self,
        db: Database,
        processed: Table,
        redis: Redis,
        stream: str,
        group: str,
        consumer: str,
        handler: EventHandler,
        service: str,
        *,
        max_deliveries: int = 5,
        redelivery_idle_ms: int = 30_000,
        forget_consumers_idle_ms: int = 3_600_000,
        processed_retention_seconds: float = 14 * 24 * 3600,
        purge_every_seconds: float = 600.0,
    ) -> None:
        self._db = db
        self._processed = processed
        self._redis = redis
        self._stream = stream
        self._group = group
        self._consumer = consumer
        self._handler = handler
        self._service = service
        self.max_deliveries = max_deliveries
        # An entry unacknowledged that long (a handler failed, or its consumer died) is
        # delivered again to whichever consumer of the group asks first.
        self.redelivery_idle_ms = redelivery_idle_ms
        self.forget_consumers_idle_ms = forget_consumers_idle_ms
        self._next_forget = 0.0
        self.processed_retention_seconds = processed_retention_seconds
        self.purge_every_seconds = purge_every_seconds
        self._next_purge = 0.0
        self._next_claim = 0.0

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        backoff = Backoff()
        while True:
            try:
                await self.ensure_group()
                # Our own unacknowledged events first: what we held when we last stopped.
                await self._read_own_pending()
                while True:
                    heartbeat()
                    await self._forget_idle_consumers()
                    await self._purge_processed_now_and_then()
                    await self._claim_idle()
                    await self._read(">", block_ms=1000)
                    backoff.reset()
            except Exception as exc:
                if not is_outage(exc):
                    raise
                log.warning(
                    "stream consumer failed, retrying",
                    extra={"fields": {"stream": self._stream, "error": describe(exc)}},
                )
                heartbeat()  # waiting out an outage is not being stuck
                await backoff.sleep()

    async def _read_own_pending(self) -> None:
        last_id = "0"
        while True:
            response = await self._redis.xreadgroup(
                self._group, self._consumer, {self._stream: last_id}, count=100
            )
            entries = _stream_entries(response)
            if not entries:
                return
            for stream_id, fields in entries:
                await self.handle(stream_id, fields)
            # Follow the ids: entries whose handler failed stay pending and would come back.
            last_id = entries[-1][0]

    async def _read(self, last_id: str, block_ms: int | None) -> int:
        response = await self._redis.xreadgroup(
            self._group, self._consumer, {self._stream: last_id}, count=100, block=block_ms
        )
        entries = _stream_entries(response)
        for stream_id, fields in entries:
            await self.handle(stream_id, fields)
        return len(entries)

    async def _claim_idle(self) -> None:
        """Takes entries left unacknowledged for a while: ours whose handler failed, and
        those of a consumer that died. Follows XAUTOCLAIM's cursor through the whole list.
        Looks a few times per redelivery delay, not on every read: under load the loop
        turns for each handful of entries, and each look is a round trip to Redis."""
        if time.monotonic() < self._next_claim:
            return
        self._next_claim = time.monotonic() + min(5.0, self.redelivery_idle_ms / 4000)
        cursor = "0-0"
        while True:
            cursor, entries, *rest = await self._redis.xautoclaim(
                self._stream, self._group, self._consumer, self.redelivery_idle_ms, cursor,
                count=100,
            )  # fmt: skip
            # Entries trimmed from the stream while pending: Redis drops them from the list.
            if rest and rest[0]:
                domain_events_trimmed.labels(self._service, self._group).inc(len(rest[0]))
            for stream_id, fields in entries:
                await self.handle(stream_id, fields)
            if cursor in ("0-0", b"0-0"):
                return

    async def _forget_idle_consumers(self) -> None:
        """Removes consumers (earlier processes) that hold nothing and have long been idle."""
        if time.monotonic() < self._next_forget:
            return
        self._next_forget = time.monotonic() + 60
        consumers: Any = await self._redis.xinfo_consumers(self._stream, self._group)
        for consumer in consumers:
            if (
                consumer["name"] != self._consumer
                and consumer["pending"] == 0
                and consumer["idle"] > self.forget_consumers_idle_ms
            ):
                await self._redis.xgroup_delconsumer(self._stream, self._group, consumer["name"])

    async def _purge_processed_now_and_then(self) -> None:
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + self.purge_every_seconds
        await self.purge_processed()

    async def purge_processed(self) -> int:
        """Forgets the ids of events this group applied long ago (the consumer's
        retention chore, run every `purge_every_seconds` in its loop): older than
        `processed_retention_seconds`, and never one an entry still pending may need
        (an entry applied but not acknowledged before a crash is recognised by its id)."""
        cutoff = time.time() - self.processed_retention_seconds
        summary: Any = await self._redis.xpending(self._stream, self._group)
        if summary["pending"]:
            # An hour's slack for the clocks of Redis and PostgreSQL to disagree.
            cutoff = min(cutoff, stream_id_seconds(summary["min"]) - 3600)
        table = self._processed
        async with self._db.transaction() as session:
            result: Any = await session.execute(
                delete(table).where(
                    table.c.consumer == self._group,
                    table.c.processed_at < datetime.fromtimestamp(cutoff, UTC),
                )
            )
        purged = int(result.rowcount or 0)
        retention_removed.labels(self._service, "processed_event_ids").inc(purged)
        return purged

    async def handle(self, stream_id: str, fields: dict[str, str]) -> None:
        if not fields:
            # Trimmed from the stream after it was delivered: nothing left to apply.
            await self._redis.xack(self._stream, self._group, stream_id)
            domain_events_trimmed.labels(self._service, self._group).inc()
            return
        try:
            event = DomainEvent.from_stream(stream_id, fields)
        except MalformedEvent as exc:
            # Parsed before any transaction: reading it again would fail the same way.
            await self._dead_letter(stream_id, fields, exc, deliveries=1, reason="malformed")
            return
        attributes = {
            "messaging.destination.name": self._stream,
            "messaging.consumer.group.name": self._group,
            "messaging.message.id": str(event.id),
            "meetinity.event.type": event.type,
        }
        with consuming(f"consume {event.type}", event.traceparent, attributes):
            await self._apply(event, fields)

    async def _apply(self, event: DomainEvent, fields: dict[str, str]) -> None:
        """The handler's transaction, then the acknowledgement (or a later redelivery)."""
        stream_id = event.stream_id
        try:
            async with self._db.transaction() as session:
                first_time = (
                    await session.execute(
                        pg_insert(self._processed)
                        .values(consumer=self._group, event_id=event.id)
                        .on_conflict_do_nothing()
                        .returning(self._processed.c.event_id)
                    )
                ).first()
                if first_time:
                    await self._handler(session, event)
        except Exception as exc:
            if is_outage(exc):
                raise
            await self._failed(event, fields, exc)
            return
        await self._redis.xack(self._stream, self._group, stream_id)
        if first_time:
            domain_events_consumed.labels(self._service, self._group, event.type).inc()

    async def _failed(self, event: DomainEvent, fields: dict[str, str], error: Exception) -> None:
        """The handler raised: leave the entry pending for a later delivery, or give up."""
        pending: Any = await self._redis.xpending_range(
            self._stream, self._group, event.stream_id, event.stream_id, 1
        )
        deliveries = int(pending[0]["times_delivered"]) if pending else 1
        log.error(
            "domain event failed",
            exc_info=error,
            extra={
                "fields": {
                    "stream": self._stream, "group": self._group, "event_id": str(event.id),
                    "event_type": event.type, "stream_id": event.stream_id,
                    "deliveries": deliveries, "max_deliveries": self.max_deliveries,
                    "error": describe(error),
                }
            },
        )  # fmt: skip
        if deliveries >= self.max_deliveries:
            await self._dead_letter(event.stream_id, fields, error, deliveries, "failed")

    async def _dead_letter(
        self,
        stream_id: str,
        fields: dict[str, str],
        error: Exception,
        deliveries: int,
        reason: str,
    ) -> None:
        """Moves the entry to the dead-letter stream, with why, and acknowledges it."""
        letter = {
            **fields,
            "dead_letter_stream": self._stream,
            "dead_letter_stream_id": stream_id,
            "dead_letter_group": self._group,
            "dead_letter_reason": reason,
            "dead_letter_error": describe(error),
            "dead_letter_traceback": "".join(traceback.format_exception(error))[-4000:],
            "dead_letter_deliveries": str(deliveries),
            "dead_letter_at": datetime.now(UTC).isoformat(),
        }
        pipeline = self._redis.pipeline(transaction=True)
        pipeline.xadd(dead_letter_stream(self._stream), letter)  # type: ignore[arg-type]
        pipeline.xack(self._stream, self._group, stream_id)
        await pipeline.execute()
        domain_events_dead_lettered.labels(self._service, self._group, reason).inc()
        log.error(
            "domain event dead-lettered",
            extra={
                "fields": {
                    "stream": self._stream, "group": self._group, "stream_id": stream_id,
                    "reason": reason, "deliveries": deliveries, "error": describe(error),
                }
            },
        )  # fmt: skip


def consume(
    producer: str, handler: EventHandler, *, processed: Table, group: str
) -> "Callable[[FastAPI], Coroutine[Any, Any, None]]":
    """A background job applying `producer`'s domain events with `handler`, for
    `Subgraph.background_jobs`: consumer name, redelivery and dead letters from settings."""

    async def run(app: "FastAPI") -> None:
        settings = app.state.settings
        consumer = StreamConsumer(
            app.state.background_db,
            processed,
            app.state.redis,
            stream_name(settings.redis_prefix, producer),
            group,
            settings.consumer_name,
            handler,
            app.state.service,
            max_deliveries=settings.event_max_deliveries,
            redelivery_idle_ms=int(settings.event_redelivery_seconds * 1000),
            processed_retention_seconds=settings.processed_events_retention_seconds,
            purge_every_seconds=settings.retention_interval_seconds,
        )
        await consumer.run()

    run.__name__ = f"consume_{producer}_events"
    return run


# Retention ---------------------------------------------------------------------------


def stream_id_key(stream_id: str) -> tuple[int, int]:
    """A stream entry id as a pair that sorts as Redis orders entries."""
    milliseconds, _, sequence = str(stream_id).partition("-")
    return int(milliseconds), int(sequence or 0)


def stream_id_seconds(stream_id: str) -> float:
    """When Redis added the entry (its id's milliseconds), in Unix seconds."""
    return stream_id_key(stream_id)[0] / 1000


async def oldest_needed(redis: Redis, stream: str, group: dict[str, Any]) -> str | None:
    """The id of the oldest entry `group` (an XINFO GROUPS reply) still needs: its
    oldest pending entry, or else the first it has not been given; None if neither."""
    if group["pending"]:
        summary: Any = await redis.xpending(stream, group["name"])
        return str(summary["min"])
    after: Any = await redis.xrange(stream, min=f"({group['last-delivered-id']}", count=1)
    return str(after[0][0]) if after else None


async def trim_stream(redis: Redis, stream: str, retention_seconds: float) -> int:
    """Removes the entries older than `retention_seconds`, but never one a consumer
    group has not acknowledged (pending) or not read yet; the number removed.

    A group that stopped reading for good therefore holds the stream from its position
    on: delete the group (`XGROUP DESTROY`) once it is retired."""
    minimum = f"{int((time.time() - retention_seconds) * 1000)}-0"
    if not await redis.exists(stream):
        return 0
    groups: Any = await redis.xinfo_groups(stream)
    for group in groups:
        needed = await oldest_needed(redis, stream, group)
        if needed is not None and stream_id_key(needed) < stream_id_key(minimum):
            minimum = needed
    return int(await redis.xtrim(stream, minid=minimum, approximate=False))


async def purge_outbox(db: Database, outbox: Outbox, retention_seconds: float) -> int:
    """Deletes outbox rows published more than `retention_seconds` ago (they are in the
    stream); unpublished rows stay, however old. The number deleted."""
    table = outbox.table
    async with db.transaction() as session:
        result: Any = await session.execute(
            delete(table).where(
                table.c.published_at < func.now() - timedelta(seconds=retention_seconds)
            )
        )
    return int(result.rowcount or 0)


class ProducerRetention:
    """A producer's retention chore (supervised, every `RETENTION_INTERVAL_SECONDS`):
    published outbox rows purged, the stream trimmed by age."""

    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        redis: Redis,
        stream: str,
        service: str,
        *,
        outbox_retention_seconds: float,
        stream_retention_seconds: float,
    ) -> None:
        self._db = db
        self._outbox = outbox
        self._redis = redis
        self._stream = stream
        self._service = service
        self._outbox_retention = outbox_retention_seconds
        self._stream_retention = stream_retention_seconds

    async def run_once(self) -> None:
        try:
            purged = await purge_outbox(self._db, self._outbox, self._outbox_retention)
            trimmed = await trim_stream(self._redis, self._stream, self._stream_retention)
        except Exception as exc:
            if not is_outage(exc):
                raise
            # Nothing grows unsafely meanwhile: the next round catches up.
            log.warning("retention skipped", extra={"fields": {"error": describe(exc)}})
            return
        retention_removed.labels(self._service, "outbox_rows").inc(purged)
        retention_removed.labels(self._service, "stream_entries").inc(trimmed)
        if purged or trimmed:
            log.info(
                "retention",
                extra={"fields": {"stream": self._stream, "outbox_rows_purged": purged,
                                  "stream_entries_trimmed": trimmed}},
            )  # fmt: skip


DEAD_LETTER_FIELDS_PREFIX = "dead_letter_"


async def dead_letters(redis: Redis, stream: str) -> list[tuple[str, dict[str, str]]]:
    """The dead letters of `stream`, oldest first, as (dead-letter id, fields)."""
    entries: Any = await redis.xrange(dead_letter_stream(stream))
    return [(str(entry_id), dict(fields)) for entry_id, fields in entries]


async def replay_dead_letter(redis: Redis, stream: str, letter_id: str) -> str | None:
    """Puts a dead letter back on its stream (as a new entry, same event id) and removes it
    from the dead letters; the new stream id, or None if there is no such letter.

    Every group of the stream sees it again; groups that had applied it skip it by id."""
    letters: Any = await redis.xrange(dead_letter_stream(stream), letter_id, letter_id)
    if not letters:
        return None
    original = {
        key: value
        for key, value in letters[0][1].items()
        if not key.startswith(DEAD_LETTER_FIELDS_PREFIX)
    }
    pipeline = redis.pipeline(transaction=True)
    pipeline.xadd(stream, original)
    pipeline.xdel(dead_letter_stream(stream), letter_id)
    new_id, _ = await pipeline.execute()
    return str(new_id)
