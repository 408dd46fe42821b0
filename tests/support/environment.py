"""A private stack per test run: its own database, Redis key prefix, signing key and ports."""

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import redis

from shared.auth import generate_private_key_file
from tools.mail_sink import mail_sink
from tools.services import ensure_machine_services
from tools.stack import DEFAULT_PORTS, WITH_WORKERS, Stack, StackConfig, free_port

ADMIN_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class StackEnvironment:
    config: StackConfig
    database_name: str
    # Where the stack's SMTP server (started with the stack) keeps each mail it receives.
    mail_dir: Path
    smtp_port: int
    _cleanup: ExitStack = field(default_factory=ExitStack)

    def start_mail_sink(self) -> None:
        """The stack's SMTP server; tests may stop it (`stop_mail_sink`) and start it again."""
        self._cleanup.enter_context(mail_sink(self.mail_dir, self.smtp_port))

    def stop_mail_sink(self) -> None:
        self._cleanup.close()

    @property
    def router_url(self) -> str:
        return self.config.url("router")

    @property
    def router_ws_url(self) -> str:
        return self.router_url.replace("http://", "ws://")


async def run_as_admin(statement: str) -> None:
    """One statement on the server's maintenance database: create or drop a test database."""
    connection = await asyncpg.connect(ADMIN_DATABASE_URL)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def database_url(name: str) -> str:
    base, _, _ = ADMIN_DATABASE_URL.rpartition("/")
    return f"{base}/{name}"


def create_environment(tmp_dir: Path, traced: bool = True) -> StackEnvironment:
    """A private stack's settings; `traced`: spans go to a local collector (the tests),
    or tracing is off, as by default in production (the benchmarks, unless compared)."""
    if "TEST_DATABASE_URL" not in os.environ:
        ensure_machine_services()
    run_id = uuid.uuid4().hex[:10]
    name = f"meetinity_test_{run_id}"
    asyncio.run(run_as_admin(f'CREATE DATABASE "{name}"'))
    smtp_port = free_port()
    key_file = tmp_dir / "jwt-private.pem"
    generate_private_key_file(key_file)
    config = StackConfig(
        database_url=database_url(name),
        redis_url=TEST_REDIS_URL,
        redis_prefix=f"meetinity-test-{run_id}",
        jwt_private_key_file=key_file,
        ports={service: free_port() for service in DEFAULT_PORTS},
        metrics_ports={service: free_port() for service in DEFAULT_PORTS},
        worker_ports={subgraph: free_port() for subgraph in WITH_WORKERS},
        worker_metrics_ports={subgraph: free_port() for subgraph in WITH_WORKERS},
        log_dir=tmp_dir / "logs",
        # Every trace kept: the trace tests read this file.
        traces_file=tmp_dir / "traces" / "spans.jsonl" if traced else None,
        collector_port=free_port(),
        env={
            # Cheap password hashing: the tests sign up hundreds of people.
            "PASSWORD_HASH_TIME_COST": "1",
            "PASSWORD_HASH_MEMORY_KIB": "1024",
            "OUTBOX_POLL_SECONDS": "0.2",
            "LOG_LEVEL": "info",
            "SMTP_PORT": str(smtp_port),
            "MAIL_POLL_SECONDS": "0.5",
            "MAIL_RETRY_CEILING_SECONDS": "1",
            # Spans reach the collector within a fraction of a second, not 5 s.
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            # The tests sign up hundreds of people from 127.0.0.1: that address is not
            # limited. A test of the limits says which address it comes from (the router
            # trusts X-Forwarded-For from 127.0.0.1, as from a load balancer).
            "TRUSTED_PROXIES": "127.0.0.1",
            "RATE_LIMIT_EXEMPT": "127.0.0.1",
        },
    )
    environment = StackEnvironment(config, name, tmp_dir / "mail", smtp_port)
    environment.start_mail_sink()
    return environment


def destroy_environment(environment: StackEnvironment) -> None:
    environment.stop_mail_sink()
    asyncio.run(run_as_admin(f'DROP DATABASE IF EXISTS "{environment.database_name}" WITH (FORCE)'))
    client = redis.Redis.from_url(environment.config.redis_url)
    keys = list(client.scan_iter(f"{environment.config.redis_prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def running_stack(environment: StackEnvironment) -> Iterator[Stack]:
    stack = Stack(environment.config)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
