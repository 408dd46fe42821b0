"""Alembic, driven from code: each subgraph has its own migrations in its own schema.

`subgraphs/<name>/migrations/env.py` calls `run_env`; `upgrade` applies a
subgraph's migrations (at start in development, by `python -m tools migrate`
in production).
"""

import asyncio

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db import async_url
from shared.settings import REPO_ROOT, get_settings


def alembic_config(subgraph: str, database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(REPO_ROOT / "subgraphs" / subgraph / "migrations")
    )
    config.attributes["database_url"] = database_url or get_settings().database_url
    return config


def upgrade(subgraph: str, database_url: str | None = None) -> None:
    command.upgrade(alembic_config(subgraph, database_url), "head")


def is_at_head(subgraph: str, database_url: str | None = None) -> bool:
    """Whether the database holds every migration this code expects (none pending)."""
    config = alembic_config(subgraph, database_url)
    heads = set(ScriptDirectory.from_config(config).get_heads())

    def current(connection: Connection) -> set[str]:
        context = MigrationContext.configure(connection, opts={"version_table_schema": subgraph})
        return set(context.get_current_heads())

    async def read_current() -> set[str]:
        engine = create_async_engine(async_url(config.attributes["database_url"]))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(current)
        finally:
            await engine.dispose()

    return asyncio.run(read_current()) == heads


def run_env(metadata: MetaData) -> None:
    """The body of every subgraph's `env.py`."""
    schema = metadata.schema
    assert schema, "a subgraph's metadata must name its schema"
    url = context.config.attributes.get("database_url") or get_settings().database_url

    def configure_and_run(connection: Connection) -> None:
        # Replicas starting together must not migrate at the same time.
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": schema})
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=lambda name, type_, _: type_ != "schema" or name == schema,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_online() -> None:
        engine = create_async_engine(async_url(url))
        async with engine.begin() as connection:
            await connection.run_sync(configure_and_run)
        await engine.dispose()

    asyncio.run(run_online())
