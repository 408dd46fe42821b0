"""The one settings object, read from the environment (and `.env` when present)."""

import os
import socket
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# What one process of a subgraph runs (`Settings.process_role`).
ProcessRole = Literal["all", "api", "worker"]


class Settings(BaseSettings):
    # In Kubernetes, secrets are files (a mounted Secret, one file per setting, e.g.
    # `database_url`) rather than environment variables, which leak into crash dumps
    # and `kubectl describe`; SECRETS_DIR names that folder.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", secrets_dir=os.environ.get("SECRETS_DIR")
    )

    # "production" turns off introspection, GraphiQL and field suggestions, and refuses
    # weak password hashing (docs/architecture.md, "Production mode").
    environment: str = "development"
    # What this process runs (docs/architecture.md, "Processes"): "api" serves GraphQL
    # and runs no consumers or chores; "worker" runs the subgraph's background jobs and
    # serves only health, readiness and metrics; "all" does both (one process per
    # subgraph, as the tests' single-subgraph processes run). Every role relays its own
    # outbox, so each process's commits are published without waiting for a poll.
    process_role: ProcessRole = "all"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/meetinity"
    # Connections per process (see shared/db.py for the formula against max_connections):
    # requests served at once, and background jobs (outbox relay, consumers).
    database_pool_size: int = 10
    database_background_pool_size: int = 3
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Every Redis key, stream and channel starts with this, so that test runs,
    # developers and environments sharing one Redis never see each other's data.
    redis_prefix: str = "meetinity"
    # Every Redis client (shared/redis_client.py): a Redis that accepts connections but
    # stops answering fails a call within these rather than the kernel's TCP timeout.
    # The socket timeout must exceed the 1 s a stream consumer blocks in XREADGROUP.
    redis_connect_timeout_seconds: float = 2.0
    redis_socket_timeout_seconds: float = 5.0
    # An idle connection is PINGed before use after this long (and the live-updates
    # listener's, which is never idle, is declared dead when a PING goes unanswered).
    redis_health_check_seconds: int = 10
    # A transaction idle this long (a client or job that stopped between statements)
    # is ended by PostgreSQL, releasing its row locks.
    database_idle_in_transaction_timeout_seconds: float = 60.0
    # Work run after a commit (live updates) runs concurrently and is abandoned after
    # this long, so a slow Redis never holds the response of a committed change.
    after_commit_deadline_seconds: float = 2.0

    # Access tokens are signed by the users subgraph with this RSA key; the
    # other subgraphs only need the public half, which they fetch as a JWKS.
    jwt_private_key_file: Path = REPO_ROOT / ".data" / "keys" / "jwt-private.pem"
    jwks_url: str = "http://127.0.0.1:4001/.well-known/jwks.json"
    jwt_issuer: str = "meetinity-users"
    jwt_audience: str = "meetinity"
    access_token_ttl_seconds: int = 15 * 60
    refresh_token_ttl_seconds: int = 30 * 24 * 3600

    # argon2 cost; tests lower it to keep hundreds of sign-ups fast. Production refuses
    # less than OWASP's minimum (2 passes over 19 MiB).
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 65536
    # Hashes run on a pool of this many threads: a flood of log-ins queues there.
    password_hash_threads: int = 2

    # Abuse limits per account (subgraphs/users/sessions.py); the router limits per
    # client address (router/limits.ts). docs/architecture.md, "Limits".
    login_failures_per_account: int = 10
    login_failures_window_seconds: int = 15 * 60
    registrations_per_email: int = 5
    registrations_window_seconds: int = 3600
    refreshes_per_account: int = 30
    refreshes_window_seconds: int = 300
    # A refresh token presented again this soon after its rotation (a retry after a
    # network drop) gets the same successor; later, it revokes its family.
    refresh_grace_seconds: int = 10
    # However often it is refreshed, a session (refresh-token family) ends this long
    # after its log-in.
    refresh_family_max_days: int = 90

    # Documents each subgraph accepts (the router's limits are lower: router/limits.ts;
    # these are a second line for whoever reaches a subgraph directly).
    subgraph_max_depth: int = 15
    subgraph_max_aliases: int = 30

    migrate_on_start: bool = True
    allowed_origins: list[str] = Field(default_factory=lambda: ["*"])
    log_level: str = "INFO"
    log_json: bool = True

    outbox_poll_seconds: float = 1.0
    # This process's name in the consumer groups of the streams it reads. It must stay
    # the same across restarts (a StatefulSet pod name, a host name) so a restarted
    # process takes up the entries it held; two live processes must not share it.
    consumer_name: str = Field(default_factory=socket.gethostname)
    # A domain event whose handler failed is delivered again after this long, and moved
    # to the dead-letter stream after this many deliveries.
    event_redelivery_seconds: float = 30.0
    event_max_deliveries: int = 5
    # A background job silent (no heartbeat) this long is reported stuck by /readyz.
    job_stuck_after_seconds: float = 60.0

    # Retention. Stream entries older than this are trimmed, but never one a consumer
    # group has not acknowledged; published outbox rows are deleted after this long
    # (they are in the stream), and the ids of events a consumer applied after
    # `processed_events_retention_seconds` (longer than the stream keeps entries, so
    # an event read again is still recognised). The chores run every
    # `retention_interval_seconds`.
    stream_retention_seconds: float = 7 * 24 * 3600
    outbox_retention_seconds: float = 24 * 3600
    processed_events_retention_seconds: float = 14 * 24 * 3600
    retention_interval_seconds: float = 600.0

    # Prometheus metrics are served on this port, apart from the public one, so that
    # only Prometheus reaches them (NetworkPolicy); None serves none.
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"

    # Traces go to this OTLP/HTTP endpoint (the standard variable); unset, tracing is off
    # and costs nothing. The sampler argument is the share of traces kept (1.0 = all).
    otel_exporter_otlp_endpoint: str | None = None
    otel_traces_sampler_arg: float = 1.0

    # Notification email (messaging). `make dev` runs a local sink on this port.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0
    mail_from: str = "Meetinity <notifications@meetinity.dev>"
    mail_poll_seconds: float = 5.0
    # Woken by a new mail, the mailer waits until no other has come for this long (but
    # no longer than the maximum) before sending: a burst (a registration storm) goes
    # out in a few SMTP sessions and transactions, not one each, even when the worker
    # queues its mails over a second or two.
    mail_gather_seconds: float = 0.2
    mail_gather_max_seconds: float = 2.0
    # SMTP unreachable: wait longer and longer, up to this, before trying again.
    mail_retry_ceiling_seconds: float = 30.0
    # A mail the server keeps refusing (or for someone with no known address) is
    # given up after this many attempts.
    mail_max_attempts: int = 8

    # Chat (messaging): messages one person may send in a window, across all replicas.
    chat_rate_limit_messages: int = 20
    chat_rate_limit_window_seconds: float = 10.0

    # Matching: the full recompute of every recommendation list runs this often in each
    # matching process (one at a time across processes); 0 never runs it.
    matching_recompute_seconds: float = 3600.0

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @model_validator(mode="after")
    def strong_hashing_in_production(self) -> "Settings":
        if self.production and (
            self.password_hash_time_cost < 2 or self.password_hash_memory_kib < 19456
        ):
            raise ValueError(
                "password hashing is too weak for production: PASSWORD_HASH_TIME_COST must be "
                "at least 2 and PASSWORD_HASH_MEMORY_KIB at least 19456"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
