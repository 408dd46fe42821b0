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
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.fastapi import GraphQLRouter
from strawberry.federation import Schema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from shared.auth import TokenVerifier
from shared.db import Database, serving_request
from shared.eventbus import Outbox, OutboxRelay, stream_name
from shared.jobs import Supervisor
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
from shared.settings import Settings, get_settings

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
    """Request id, trace id, duration and status of every HTTP request, as logs and metrics."""

    quiet_paths = frozenset({"/healthz", "/readyz", "/metrics"})

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
        status = 500
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            path = scope["path"]
            elapsed = time.perf_counter() - started
            if scope["type"] == "http":
                http_requests.labels(self.service, scope["method"], path, status).inc()
                http_request_seconds.labels(self.service, scope["method"], path).observe(elapsed)
            log.log(
                logging.DEBUG if path in self.quiet_paths else logging.INFO,
                "request",
                extra={
                    "fields": {
                        "method": scope.get("method", "WS"),
                        "path": path,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    }
                },
            )
            serving_request.reset(tokens[2])
            trace_id_var.reset(tokens[1])
            request_id_var.reset(tokens[0])


def jwks_verifier(app: FastAPI) -> TokenVerifier:
    settings: Settings = app.state.settings
    return TokenVerifier(settings.jwt_issuer, settings.jwt_audience, jwks_url=settings.jwks_url)


def create_app(subgraph: Subgraph) -> FastAPI:
    settings = get_settings()
    configure_logging(subgraph.name, settings.log_level, settings.log_json)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await asyncio.to_thread(upgrade, subgraph.name, settings.database_url)
        app.state.settings = settings
        app.state.db = Database(settings.database_url, subgraph.name, settings.database_pool_size)
        # Background jobs get their own small pool: a burst of requests never starves the
        # outbox relay or a consumer, and they never take a request's connection.
        app.state.background_db = Database(
            settings.database_url, subgraph.name, settings.database_background_pool_size
        )
        app.state.redis = Redis.from_url(settings.redis_url, decode_responses=True)
        app.state.pubsub = PubSub(settings.redis_url, settings.redis_prefix)
        await app.state.pubsub.connect()
        for hook in subgraph.on_startup:
            await hook(app)
        app.state.verifier = subgraph.verifier(app)
        app.state.service = subgraph.name
        app.state.jobs = jobs = Supervisor(subgraph.name, settings.job_stuck_after_seconds)
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
        log.info("subgraph started", extra={"fields": {"subgraph": subgraph.name}})
        try:
            yield
        finally:
            await jobs.stop()
            await app.state.pubsub.disconnect()
            await app.state.redis.aclose()
            await app.state.db.dispose()
            await app.state.background_db.dispose()

    app = FastAPI(title=f"Meetinity {subgraph.name} subgraph", lifespan=lifespan)
    app.add_middleware(RequestContextMiddleware, service=subgraph.name)
    graphql: GraphQLRouter[Any, None] = GraphQLRouter(
        subgraph.schema,
        context_getter=subgraph.context_getter,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        allowed_origins=settings.allowed_origins,
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

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
