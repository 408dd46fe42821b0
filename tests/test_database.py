"""What `shared.db` guarantees around a transaction: logged statements without their
values, no transaction left idle for ever, and after-commit work that runs at once,
each piece on its own, under one deadline."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared.db import Database, after_commit
from tests.support.environment import StackEnvironment


@pytest.fixture
async def database(environment: StackEnvironment) -> AsyncIterator[Database]:
    db = Database(
        environment.config.database_url, "test",
        idle_in_transaction_timeout_seconds=0.5, after_commit_deadline_seconds=1.0,
    )  # fmt: skip
    try:
        yield db
    finally:
        await db.dispose()


async def test_a_failed_statement_does_not_show_its_bound_values(database: Database) -> None:
    email, password_hash = "someone@example.com", "$argon2id$v=19$m=65536,t=3,p=4$c2VjcmV0"
    with pytest.raises(DBAPIError) as failure:
        async with database.transaction() as session:
            await session.execute(text("CREATE TEMP TABLE people (email text UNIQUE, hash text)"))
            for _ in range(2):
                await session.execute(
                    text("INSERT INTO people VALUES (:email, :hash)"),
                    {"email": email, "hash": password_hash},
                )
    logged = str(failure.value)  # what the error's log line and traceback show
    assert "duplicate key value violates unique constraint" in logged
    assert "INSERT INTO people VALUES ($1, $2)" in logged
    assert email not in logged and password_hash not in logged


async def test_a_transaction_left_idle_is_ended_by_postgresql(database: Database) -> None:
    with pytest.raises(DBAPIError):
        async with database.transaction() as session:
            await session.execute(text("SELECT 1"))
            await asyncio.sleep(1.5)  # a task stuck between two statements
            await session.execute(text("SELECT 1"))
    async with database.transaction() as session:  # the pool replaced that connection
        assert await session.scalar(text("SELECT 1")) == 1


async def test_after_commit_work_runs_at_once_each_on_its_own_under_one_deadline(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    done: list[int] = []

    def publishing(n: int) -> Callable[[], Awaitable[None]]:
        async def publish() -> None:
            await asyncio.sleep(0.3)  # a live update to a slow Redis
            done.append(n)

        return publish

    async def broken() -> None:
        raise RuntimeError("a bug in one callback")

    async def hangs() -> None:
        await asyncio.Event().wait()  # a Redis that never answers, without a timeout

    with caplog.at_level(logging.WARNING, logger="shared.db"):
        started = time.monotonic()
        async with database.transaction() as session:
            await session.execute(text("SELECT 1"))
            after_commit(session, broken)
            for n in range(10):
                after_commit(session, publishing(n))
            after_commit(session, hangs)
        elapsed = time.monotonic() - started
    # Ten 0.3 s publishes one after another would take 3 s; a failing one does not
    # keep the others from running; a hanging one is abandoned at the deadline.
    assert sorted(done) == list(range(10))
    assert elapsed < 2.5, elapsed
    messages = [record.getMessage() for record in caplog.records]
    assert "after-commit work failed" in messages
    assert "after-commit work abandoned at its deadline" in messages
