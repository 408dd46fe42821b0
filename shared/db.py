"""The one way to talk to PostgreSQL: an async engine, a transaction helper, and
`call` for hot writes that are one PostgreSQL function each.

Each subgraph owns one PostgreSQL schema named after it; its tables live there
and nowhere else.

Connections. Each process holds two pools, each opened lazily and kept open (no
overflow, so no connection is opened and closed per burst): one for requests, sized
to the requests one process serves at once (`DATABASE_POOL_SIZE`; a request beyond
that waits for a connection rather than opening one), and a small one for background
work (`DATABASE_BACKGROUND_POOL_SIZE`: outbox relay, stream consumers, scheduled jobs),
so a burst of requests never starves the relay and vice versa. What must hold:

    processes * (DATABASE_POOL_SIZE + DATABASE_BACKGROUND_POOL_SIZE) + headroom
        <= max_connections

where processes = the sum over subgraphs of replicas * uvicorn workers, and headroom covers
migrations, administration and PostgreSQL's reserved superuser slots (keep 10). The
defaults (10 + 3) give 4 subgraphs * 13 = 52, so a test suite with a few extra
replicas fits CI's max_connections=100. Beyond that, put PgBouncer (transaction
pooling) between the processes and PostgreSQL rather than raising max_connections.

No ping on checkout: a pooled connection is used as it is, and one that PostgreSQL has
closed (a restart, a failover) fails the request that finds it, which makes SQLAlchemy
discard every connection of the pool opened before ("optimistic" disconnect handling).
Pinging instead costs a round trip and about 6 % of a read's CPU on every request, to
save one failed request per process per restart.

Reads of one statement (`read`) run in autocommit: no BEGIN and COMMIT round trips
around a single SELECT, which is its own consistent snapshot anyway.
"""

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import asyncpg
from sqlalchemy import MetaData, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.logs import describe
from shared.metrics import db_statements

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None]]

# Set while a request is being served so statement counts can tell requests
# from background work.
serving_request: ContextVar[bool] = ContextVar("serving_request", default=False)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def subgraph_metadata(schema: str) -> MetaData:
    """Metadata whose tables all live in the subgraph's own PostgreSQL schema."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def async_url(url: str) -> str:
    """`postgresql://…` as SQLAlchemy's asyncpg URL."""
    return make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


class Database:
    def __init__(
        self,
        url: str,
        service: str,
        pool_size: int = 10,
        *,
        idle_in_transaction_timeout_seconds: float = 60.0,
        after_commit_deadline_seconds: float = 2.0,
    ) -> None:
        self.engine = create_async_engine(
            async_url(url),
            pool_size=pool_size,
            max_overflow=0,
            # Errors and logged statements never show bound values (password hashes,
            # emails, tokens): only the statement.
            hide_parameters=True,
            connect_args={
                "server_settings": {
                    # A transaction left idle (a task stuck between two statements) is
                    # ended by PostgreSQL rather than holding its locks for ever.
                    "idle_in_transaction_session_timeout": str(
                        int(idle_in_transaction_timeout_seconds * 1000)
                    ),
                }
            },
        )
        self.after_commit_deadline_seconds = after_commit_deadline_seconds
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Same pool; the connection runs each statement in its own implicit transaction.
        self._read_sessions = async_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
        )
        requests_counter = db_statements.labels(service, "request")
        background_counter = db_statements.labels(service, "background")

        def count_statement(*_: Any) -> None:
            (requests_counter if serving_request.get() else background_counter).inc()

        self._count_statement = count_statement
        event.listen(self.engine.sync_engine, "before_cursor_execute", count_statement)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction, committed on success, rolled back on error.

        Callbacks registered with `after_commit` run once the commit succeeded.
        """
        async with self.sessions() as session:
            async with session.begin():
                yield session
            callbacks = session.info.pop("after_commit", [])
        if callbacks:
            await run_after_commit(callbacks, self.after_commit_deadline_seconds)

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection outside any transaction (each statement commits by
        itself): for work that must wait on something else between statements, such as
        the outbox relay publishing to Redis, without holding a transaction open."""
        async with self.engine.connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for one SELECT, in autocommit: no BEGIN and COMMIT round trips. Use
        `transaction` for anything that writes or needs several statements to agree."""
        async with self._read_sessions() as session:
            yield session

    async def call(self, function: str, *args: object) -> asyncpg.Record:
        """`SELECT * FROM function($1, …)` on the driver's own connection: one statement,
        hence one round trip and its own transaction, without the ORM.

        The hot-write pattern (docs/architecture.md): a change that must hold a row
        lock is one PostgreSQL function, so the lock is held only inside the database,
        never across a network round trip or a busy event loop.
        """
        placeholders = ", ".join(f"${n}" for n in range(1, len(args) + 1))
        async with self.engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None, "a checked-out connection has its driver connection"
            self._count_statement()
            return await driver.fetchrow(f"SELECT * FROM {function}({placeholders})", *args)

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` once the session's transaction has committed (never on rollback).

    A transaction's callbacks run concurrently (at most `AFTER_COMMIT_CONCURRENCY` at a
    time), each on its own: one that fails is logged and the others still run, and
    whatever has not finished by the database's `after_commit_deadline_seconds` is
    abandoned and logged. The change is committed by then; this is best-effort work
    such as live updates, which must not hold the response for long."""
    session.info.setdefault("after_commit", []).append(callback)


# Enough to publish a large batch of live updates in a few round trips' time, without
# opening a Redis connection per update.
AFTER_COMMIT_CONCURRENCY = 32


async def run_after_commit(callbacks: list[AfterCommit], deadline_seconds: float) -> None:
    """Runs a committed transaction's callbacks (see `after_commit`)."""
    turns = asyncio.Semaphore(AFTER_COMMIT_CONCURRENCY)

    async def isolated(callback: AfterCommit) -> None:
        async with turns:
            try:
                await callback()
            except Exception as exc:
                log.error(
                    "after-commit work failed",
                    exc_info=exc,
                    extra={"fields": {"callback": _name(callback), "error": describe(exc)}},
                )

    tasks = [asyncio.ensure_future(isolated(callback)) for callback in callbacks]
    _, unfinished = await asyncio.wait(tasks, timeout=deadline_seconds)
    if unfinished:
        for task in unfinished:
            task.cancel()
        await asyncio.wait(unfinished)
        log.warning(
            "after-commit work abandoned at its deadline",
            extra={
                "fields": {
                    "abandoned": len(unfinished),
                    "of": len(tasks),
                    "deadline_seconds": deadline_seconds,
                }
            },
        )


def _name(callback: AfterCommit) -> str:
    return getattr(callback, "__qualname__", repr(callback))


def advisory_lock_key(name: str) -> int:
    """A PostgreSQL advisory lock key (a signed 64-bit integer) for a name."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def release_advisory_lock(connection: AsyncConnection, key: int) -> None:
    """Releases a session advisory lock; if that cannot be done (the connection broke,
    or the task was cancelled), the connection is discarded so that no pooled
    connection goes on holding the lock: PostgreSQL releases it with the session."""
    try:
        await connection.scalar(select(func.pg_advisory_unlock(key)))
    except BaseException:
        await connection.invalidate()
        raise
