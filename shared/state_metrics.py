"""The state an operator alerts on, read when Prometheus scrapes.

Outbox backlog (rows, age of the oldest), consumer groups' lag (entries, and the age of
the oldest entry a group still needs) and pending entries on
the streams a subgraph produces and their dead letters, connection pools in use and
waiting. (Background jobs' heartbeats are gauges `shared.jobs` sets as they beat.) Read at scrape
time rather than sampled by a job, so a gauge is never stale and costs nothing between
scrapes. prometheus_client serves `/metrics` from a thread on an internal port; the
collector hands its reads to the app's event loop and waits for them.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from prometheus_client import REGISTRY, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.pool import QueuePool

from shared.db import Database
from shared.eventbus import Outbox, dead_letter_stream, oldest_needed, stream_id_seconds

Families = list[GaugeMetricFamily]
StateReader = Callable[[], Awaitable[Families]]


class StateCollector(Collector):
    """Runs every reader on the app's loop at each scrape."""

    timeout_seconds = 5.0

    def __init__(self, loop: asyncio.AbstractEventLoop, readers: list[StateReader]) -> None:
        self._loop = loop
        self._readers = readers

    async def _read_all(self) -> Families:
        results = await asyncio.gather(
            *(reader() for reader in self._readers), return_exceptions=True
        )
        # A reader that fails (Redis down) leaves its gauges out of this scrape; the
        # process's readiness and the "job down" alerts report the outage itself.
        return [family for result in results if isinstance(result, list) for family in result]

    def describe(self) -> Iterable[GaugeMetricFamily]:
        """Nothing: without it the registry calls `collect` when the collector is
        registered, which is on the app's own loop, so the reads it hands to that loop
        could only time out (every subgraph's start-up waited `timeout_seconds` for it)."""
        return []

    def collect(self) -> Iterable[GaugeMetricFamily]:
        future = asyncio.run_coroutine_threadsafe(self._read_all(), self._loop)
        try:
            return future.result(self.timeout_seconds)
        except Exception:
            future.cancel()
            return []


class MetricsServer:
    """`/metrics` on an internal port, with the scrape-time gauges registered."""

    def __init__(self, host: str, port: int, collector: StateCollector) -> None:
        self._collector = collector
        REGISTRY.register(collector)
        try:
            self._server, self._thread = start_http_server(port, addr=host)
        except BaseException:
            REGISTRY.unregister(collector)
            raise

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        REGISTRY.unregister(self._collector)


def _gauge(name: str, documentation: str, *labels: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=["service", *labels])


def pool_reader(service: str, pools: dict[str, Database]) -> StateReader:
    async def read() -> Families:
        in_use = _gauge(
            "meetinity_db_pool_connections_in_use",
            "PostgreSQL connections checked out of the pool",
            "pool",
        )
        idle = _gauge(
            "meetinity_db_pool_connections_idle", "PostgreSQL connections idle in the pool", "pool"
        )
        waiting = _gauge(
            "meetinity_db_pool_waiting",
            "Coroutines waiting for a PostgreSQL connection (the pool is exhausted)",
            "pool",
        )
        for name, db in pools.items():
            pool = db.engine.pool
            if not isinstance(pool, QueuePool):
                continue
            in_use.add_metric([service, name], pool.checkedout())
            idle.add_metric([service, name], pool.checkedin())
            waiting.add_metric([service, name], _waiters(pool))
        return [in_use, idle, waiting]

    return read


def _waiters(pool: QueuePool) -> int:
    # SQLAlchemy counts no waiters; its async pool's queue is an asyncio.Queue whose
    # pending getters are exactly the coroutines waiting for a connection.
    queue = vars(getattr(pool, "_pool", object())).get("_queue")
    return len(getattr(queue, "_getters", None) or ())


def outbox_reader(service: str, db: Database, outbox: Outbox) -> StateReader:
    table = outbox.table

    async def read() -> Families:
        async with db.transaction() as session:
            rows, oldest = (
                await session.execute(
                    select(
                        func.count(),
                        func.coalesce(
                            func.extract("epoch", func.now() - func.min(table.c.occurred_at)), 0
                        ),
                    ).where(table.c.published_at.is_(None))
                )
            ).one()
        backlog = _gauge("meetinity_outbox_backlog_rows", "Outbox rows not yet relayed")
        backlog.add_metric([service], rows)
        age = _gauge(
            "meetinity_outbox_oldest_age_seconds",
            "Age of the oldest outbox row not yet relayed (0 when none)",
        )
        age.add_metric([service], float(oldest))
        return [backlog, age]

    return read


def stream_groups_reader(service: str, redis: Redis, stream: str) -> StateReader:
    """Every consumer group reading this subgraph's stream: lag and pending entries; and
    the stream's dead letters."""

    async def read() -> Families:
        lag = _gauge(
            "meetinity_stream_consumer_lag",
            "Entries of the stream a consumer group has not read yet",
            "stream",
            "group",
        )
        pending = _gauge(
            "meetinity_stream_consumer_pending",
            "Entries a consumer group read but has not acknowledged",
            "stream",
            "group",
        )
        lag_seconds = _gauge(
            "meetinity_stream_consumer_lag_seconds",
            "Age of the oldest entry a consumer group has not acknowledged or not read yet"
            " (0 when none); the stream's retention must stay well above it",
            "stream",
            "group",
        )
        length = _gauge("meetinity_stream_length", "Entries in the stream", "stream")
        letters = _gauge(
            "meetinity_stream_dead_letters",
            "Events of the stream its consumers gave up on, waiting for an operator"
            " (`python -m tools dead-letters`)",
            "stream",
        )
        letters.add_metric([service, stream], await redis.xlen(dead_letter_stream(stream)))
        families = [lag, lag_seconds, pending, length, letters]
        if not await redis.exists(stream):
            return families
        length.add_metric([service, stream], await redis.xlen(stream))
        now = time.time()
        for group in await redis.xinfo_groups(stream):
            name = group["name"]
            pending.add_metric([service, stream, name], group["pending"])
            lag.add_metric([service, stream, name], await _group_lag(redis, stream, group))
            needed = await oldest_needed(redis, stream, group)
            age = max(0.0, now - stream_id_seconds(needed)) if needed else 0.0
            lag_seconds.add_metric([service, stream, name], age)
        return families

    return read


async def _group_lag(redis: Redis, stream: str, group: dict[str, Any]) -> int:
    if group.get("lag") is not None:  # Redis 7 counts it
        return int(group["lag"])
    # Redis 6 (the embedded server of `make dev`), or a lag Redis cannot tell after
    # deletions: count the entries after the group's last delivered id, up to a bound.
    after = await redis.xrange(stream, min=f"({group['last-delivered-id']}", count=10_000)
    return len(after or [])
