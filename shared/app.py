"""The FastAPI application every subgraph is: GraphQL, health, readiness, metrics, logs."""

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.fastapi import GraphQLRouter
from strawberry.federation import Schema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from shared.auth import TokenVerifier
from shared.db import Database, serving_request
from shared.eventbus import Outbox, OutboxRelay, ProducerRetention, stream_name
from shared.jobs import Supervisor, every
from shared.logs import (
    configure_logging,
    describe,
    request_id_var,
    trace_id_from_traceparent,
    trace_id_var,
)
from shared.metrics import http_request_seconds, http_requests
from shared.migrations import upgrade
from shared.pubsub import PubSub
from shared.ratelimit import RateLimiter
from shared.redis_client import redis_client
from shared.revocation import Revocations
from shared.settings import Settings, get_settings
from shared.state_metrics import (
    MetricsServer,
    StateCollector,
    outbox_reader,
    pool_reader,
    stream_groups_reader,
)
from shared.telemetry import configure_tracing, current_ids

log = logging.getLogger(__name__)

# Runs until cancelled, under the app's `Supervisor` (named after the function), and
# calls `shared.jobs.heartbeat()` each time round its loop.
BackgroundJob = Callable[[FastAPI], Coroutine[Any, Any, None]]
StartupHook = Callable[[FastAPI], Awaitable[None]]


@dataclass
class Subgraph:
    """What makes one subgraph different from another; the rest is `create_app`."""

    name: str
    schema: Schema
    context_getter: Callable[[HTTPConnection], Any]
    verifier: Callable[[FastAPI], TokenVerifier] = field(default=lambda app: jwks_verifier(app))
    outbox: Outbox | None = None
    on_startup: list[StartupHook] = field(default_factory=list)
    background_jobs: list[BackgroundJob] = field(default_factory=list)


class RequestContextMiddleware:
    """Request id, trace id, duration and status of every HTTP request and WebSocket
    session, as logs and metrics labelled by route template (never the raw path)."""

    quiet_paths = frozenset({"/healthz", "/readyz"})

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        tokens = (
            request_id_var.set(request_id),
            trace_id_var.set(trace_id_from_traceparent(headers.get("traceparent"))),
            serving_request.set(True),
        )
        websocket = scope["type"] == "websocket"
        # What the client got: an HTTP status, 101 for an accepted WebSocket, 403 for
        # one closed before it was accepted (ASGI), 500 if the app failed first.
        status = 500
        started = time.perf_counter()

        counted = False

        def count(method: str) -> None:
            nonlocal counted
            if not counted:
                counted = True
                http_requests.labels(self.service, method, route_template(scope), status).inc()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind in ("http.response.start", "websocket.http.response.start"):
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
                if ids := current_ids():
                    # So that a slow or failed response leads to its trace.
                    message["headers"].append((b"x-trace-id", ids[0].encode()))
            elif kind == "websocket.accept":
                status = 101
            elif kind == "websocket.close" and status == 500:
                status = 403
            if websocket and status != 500:
                # Counted once its outcome is known: a session can last for hours.
                count("WS")
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed = time.perf_counter() - started
            method = "WS" if websocket else scope["method"]
            count(method)
            if not websocket:  # a session's length says nothing about latency
                route = route_template(scope)
                http_request_seconds.labels(self.service, method, route).observe(elapsed)
            log.log(
                logging.DEBUG if scope["path"] in self.quiet_paths else logging.INFO,
                "websocket session" if websocket else "request",
                extra={
                    "fields": {
                        "method": method,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    }
                },
            )
            serving_request.reset(tokens[2])
            trace_id_var.reset(tokens[1])
            request_id_var.reset(tokens[0])


def route_template(scope: Scope) -> str:
    """`/events/{event_id}.ics` rather than each event's path; "unmatched" for 404s."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def jwks_verifier(app: FastAPI) -> TokenVerifier:
    settings: Settings = app.state.settings
    return TokenVerifier(settings.jwt_issuer, settings.jwt_audience, jwks_url=settings.jwks_url)


def serve_metrics(app: FastAPI, subgraph: Subgraph, settings: Settings) -> MetricsServer | None:
    """`/metrics` on the internal port, when one is configured."""
    if settings.metrics_port is None:
        return None
    pools = {"request": app.state.db, "background": app.state.background_db}
    readers = [pool_reader(subgraph.name, pools)]
    if subgraph.outbox is not None:
        readers.append(outbox_reader(subgraph.name, app.state.background_db, subgraph.outbox))
        stream = stream_name(settings.redis_prefix, subgraph.name)
        readers.append(stream_groups_reader(subgraph.name, app.state.redis, stream))
    collector = StateCollector(asyncio.get_running_loop(), readers)
    return MetricsServer(settings.metrics_host, settings.metrics_port, collector)


def database(settings: Settings, service: str, pool_size: int) -> Database:
    return Database(
        settings.database_url,
        service,
        pool_size,
        idle_in_transaction_timeout_seconds=settings.database_idle_in_transaction_timeout_seconds,
        after_commit_deadline_seconds=settings.after_commit_deadline_seconds,
    )


def create_app(subgraph: Subgraph) -> FastAPI:
    settings = get_settings()
    configure_logging(subgraph.name, settings.log_level, settings.log_json)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await asyncio.to_thread(upgrade, subgraph.name, settings.database_url)
        app.state.settings = settings
        app.state.service = subgraph.name
        app.state.db = database(settings, subgraph.name, settings.database_pool_size)
        # Background jobs get their own small pool: a burst of requests never starves the
        # outbox relay or a consumer, and they never take a request's connection.
        app.state.background_db = database(
            settings, subgraph.name, settings.database_background_pool_size
        )
        app.state.redis = redis_client(settings)
        app.state.rate_limiter = RateLimiter(app.state.redis, settings.redis_prefix)
        app.state.revocations = Revocations(
            app.state.redis, settings.redis_prefix, settings.access_token_ttl_seconds
        )
        app.state.pubsub = PubSub(
            redis_client(settings, decode_responses=False), settings.redis_prefix,
            service=subgraph.name,
        )  # fmt: skip
        await app.state.pubsub.connect()
        for hook in subgraph.on_startup:
            await hook(app)
        app.state.verifier = subgraph.verifier(app)
        app.state.service = subgraph.name
        app.state.jobs = jobs = Supervisor(subgraph.name, settings.job_stuck_after_seconds)
        if settings.process_role != "api":
            for job in subgraph.background_jobs:
                jobs.start(job.__name__, functools.partial(job, app))
        if subgraph.outbox is not None:
            relay = OutboxRelay(
                app.state.background_db,
                subgraph.outbox,
                app.state.redis,
                stream_name(settings.redis_prefix, subgraph.name),
                subgraph.name,
                settings.outbox_poll_seconds,
            )
            jobs.start("outbox_relay", relay.run)
            retention = ProducerRetention(
                app.state.background_db,
                subgraph.outbox,
                app.state.redis,
                stream_name(settings.redis_prefix, subgraph.name),
                subgraph.name,
                outbox_retention_seconds=settings.outbox_retention_seconds,
                stream_retention_seconds=settings.stream_retention_seconds,
            )
            jobs.start("retention", every(settings.retention_interval_seconds, retention.run_once))
        metrics_server = serve_metrics(app, subgraph, settings)
        log.info(
            "subgraph started",
            extra={"fields": {"subgraph": subgraph.name, "role": settings.process_role}},
        )
        try:
            yield
        finally:
            if metrics_server is not None:
                metrics_server.close()
            await jobs.stop()
            await app.state.pubsub.disconnect()
            await app.state.redis.aclose()
            await app.state.db.dispose()
            await app.state.background_db.dispose()
            if tracing is not None:
                await asyncio.to_thread(tracing.shutdown)  # exports what is still batched

    app = FastAPI(title=f"Meetinity {subgraph.name} subgraph", lifespan=lifespan)
    tracing = configure_tracing(
        subgraph.name, app, settings.otel_exporter_otlp_endpoint, settings.otel_traces_sampler_arg
    )
    app.add_middleware(RequestContextMiddleware, service=subgraph.name)
    if settings.process_role != "worker":
        graphql: GraphQLRouter[Any, None] = GraphQLRouter(
            subgraph.schema,
            context_getter=subgraph.context_getter,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            allowed_origins=settings.allowed_origins,
            # Production: no IDE (introspection and suggestions are off in the schema).
            graphql_ide=None if settings.production else "graphiql",
        )
        app.include_router(graphql, prefix="/graphql")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Dependencies reachable and every background job alive and making progress."""
        checks: dict[str, Any] = {}
        try:
            await app.state.db.ping()
            checks["postgres"] = "ok"
        except Exception as exc:
            checks["postgres"] = describe(exc)
        try:
            await app.state.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = describe(exc)
        jobs: dict[str, str] = app.state.jobs.health()
        ready = all(value == "ok" for value in checks.values()) and all(
            value == "ok" for value in jobs.values()
        )
        checks["jobs"] = jobs
        return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)

    return app
