"""Domain events between subgraphs: a transactional outbox relayed to Redis streams.

A producer writes its event into its own `outbox` table in the same transaction
as the change, so a committed change always has its event and a rolled-back one
never does. `OutboxRelay` then copies unsent rows to the producer's Redis stream
(at least once: a crash between XADD and marking the row sent sends it again;
the event id is the idempotency key). `StreamConsumer` reads a stream through a
consumer group, records each event id it handled in the same transaction as its
effect, and acknowledges only afterwards, so a consumer that crashes resumes
where it stopped and never applies an event twice.
"""

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.backoff import Backoff
from shared.db import Database, after_commit
from shared.logs import describe
from shared.metrics import domain_events_consumed, domain_events_published

log = logging.getLogger(__name__)


def stream_name(prefix: str, producer: str) -> str:
    """The Redis stream a subgraph publishes its domain events to."""
    return f"{prefix}:domain-events:{producer}"


@dataclass(frozen=True)
class DomainEvent:
    id: uuid.UUID
    type: str
    aggregate_id: str
    occurred_at: datetime
    payload: dict[str, Any]
    stream_id: str = ""

    def to_stream_fields(self) -> dict[str, str]:
        return {
            "id": str(self.id),
            "type": self.type,
            "aggregate_id": self.aggregate_id,
            "occurred_at": self.occurred_at.isoformat(),
            "payload": json.dumps(self.payload, default=str),
        }

    @classmethod
    def from_stream(cls, stream_id: str, fields: dict[str, str]) -> "DomainEvent":
        return cls(
            id=uuid.UUID(fields["id"]),
            type=fields["type"],
            aggregate_id=fields["aggregate_id"],
            occurred_at=datetime.fromisoformat(fields["occurred_at"]),
            payload=json.loads(fields["payload"]),
            stream_id=stream_id,
        )


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
        self, session: AsyncSession, type: str, aggregate_id: object, payload: dict[str, Any]
    ) -> uuid.UUID:
        event_id = uuid.uuid4()
        await session.execute(
            insert(self.table).values(
                id=event_id,
                type=type,
                aggregate_id=str(aggregate_id),
                payload=json.loads(json.dumps(payload, default=str)),
                occurred_at=datetime.now(UTC),
            )
        )
        after_commit(session, self._wake)
        return event_id

    async def _wake(self) -> None:
        self.wakeup.set()


class OutboxRelay:
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

    async def run(self) -> None:
        backoff = Backoff()
        while True:
            try:
                relayed = await self.relay_batch()
                backoff.reset()
            except (RedisError, OSError, DBAPIError) as exc:
                log.warning(
                    "outbox relay failed, retrying",
                    extra={"fields": {"error": describe(exc), "retry_in_seconds": backoff.delay}},
                )
                await backoff.sleep()
                continue
            if relayed < self.batch_size:
                await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._outbox.wakeup.wait(), self._poll_seconds)
        self._outbox.wakeup.clear()

    async def relay_batch(self) -> int:
        table = self._outbox.table
        async with self._db.transaction() as session:
            rows = (
                await session.execute(
                    select(table)
                    .where(table.c.published_at.is_(None))
                    .order_by(table.c.position)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            pipeline = self._redis.pipeline(transaction=False)
            for row in rows:
                event = DomainEvent(
                    row.id, row.type, row.aggregate_id, row.occurred_at, row.payload
                )
                pipeline.xadd(self._stream, event.to_stream_fields())  # type: ignore[arg-type]
            await pipeline.execute()
            await session.execute(
                update(table)
                .where(table.c.position.in_([row.position for row in rows]))
                .values(published_at=func.now())
            )
        for row in rows:
            domain_events_published.labels(self._service, row.type).inc()
        return len(rows)


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
    """Applies each event of a stream once, through a consumer group; resumes after a crash."""

    claim_idle_ms = 30_000

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
    ) -> None:
        self._db = db
        self._processed = processed
        self._redis = redis
        self._stream = stream
        self._group = group
        self._consumer = consumer
        self._handler = handler
        self._service = service

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
                while await self._read("0", block_ms=None):
                    pass
                while True:
                    await self._claim_abandoned()
                    await self._read(">", block_ms=1000)
                    backoff.reset()
            except (RedisError, OSError, DBAPIError) as exc:
                log.warning(
                    "stream consumer failed, retrying",
                    extra={"fields": {"stream": self._stream, "error": describe(exc)}},
                )
                await backoff.sleep()

    async def _read(self, last_id: str, block_ms: int | None) -> int:
        response = await self._redis.xreadgroup(
            self._group, self._consumer, {self._stream: last_id}, count=100, block=block_ms
        )
        entries = _stream_entries(response)
        for stream_id, fields in entries:
            await self.handle(stream_id, fields)
        return len(entries)

    async def _claim_abandoned(self) -> None:
        """Take over events another consumer of the group read but never acknowledged."""
        _, entries, *_ = await self._redis.xautoclaim(
            self._stream, self._group, self._consumer, self.claim_idle_ms, "0-0", count=100
        )
        for stream_id, fields in entries:
            await self.handle(stream_id, fields)

    async def handle(self, stream_id: str, fields: dict[str, str]) -> None:
        event = DomainEvent.from_stream(stream_id, fields)
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
        await self._redis.xack(self._stream, self._group, stream_id)
        if first_time:
            domain_events_consumed.labels(self._service, self._group, event.type).inc()
