"""The one way to talk to PostgreSQL: an async engine and a transaction helper.

Each subgraph owns one PostgreSQL schema named after it; its tables live there
and nowhere else.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import MetaData, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import Pool

from shared.metrics import db_statements

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
    def __init__(self, url: str, service: str, pool_size: int = 10) -> None:
        self.engine = create_async_engine(
            async_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        requests_counter = db_statements.labels(service, "request")
        background_counter = db_statements.labels(service, "background")

        @event.listens_for(self.engine.sync_engine, "before_cursor_execute")
        def count_statement(*_: Any) -> None:
            (requests_counter if serving_request.get() else background_counter).inc()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction, committed on success, rolled back on error.

        Callbacks registered with `after_commit` run once the commit succeeded.
        """
        async with self.sessions() as session:
            async with session.begin():
                yield session
            for callback in session.info.pop("after_commit", []):
                await callback()

    def pools(self) -> dict[str, Pool]:
        """The connection pools, by name, for the pool gauges."""
        return {"request": self.engine.pool}

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` once the session's transaction has committed (never on rollback)."""
    session.info.setdefault("after_commit", []).append(callback)
