"""Alembic, driven from code: each subgraph has its own migrations in its own schema.

`subgraphs/<name>/migrations/env.py` calls `run_env`; `upgrade` applies a
subgraph's migrations (at start in development, by `python -m tools migrate`
in production).
"""

import asyncio

from alembic import command, context
from alembic.config import Config
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
