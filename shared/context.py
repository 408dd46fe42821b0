"""The GraphQL context every subgraph builds per request (or per WebSocket connection)."""

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator
from typing import Any

from opentelemetry import trace
from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext
from strawberry.types import ExecutionResult

from shared.auth import Principal, TokenVerifier, bearer_token
from shared.db import Database
from shared.errors import Unauthenticated
from shared.logs import user_id_var
from shared.pubsub import PubSub
from shared.ratelimit import RateLimiter
from shared.revocation import Revocations
from shared.settings import Settings

_NOT_YET = object()
# A live subscription checks this often that its token has neither expired nor been revoked.
TOKEN_CHECK_SECONDS = 2.0


class RequestContext(BaseContext):
    def __init__(self, connection: HTTPConnection) -> None:
        super().__init__()
        state = connection.app.state
        self.settings: Settings = state.settings
        self.service: str = state.service
        self.db: Database = state.db
        self.pubsub: PubSub = state.pubsub
        self.verifier: TokenVerifier = state.verifier
        self.revocations: Revocations = state.revocations
        self.rate_limiter: RateLimiter = state.rate_limiter
        self._connection = connection
        self._principal: Any = _NOT_YET

    @property
    def client_operation_name(self) -> str | None:
        """The name of the client's operation, which the router sends along in a header
        (its query planner sends subgraphs anonymous operations): a label for metrics and
        spans, trusted for nothing else."""
        return self._connection.headers.get("x-graphql-operation-name")

    def _authorization(self) -> str | None:
        # Over WebSocket the router forwards the client's token in connectionParams.
        # Whatever the case of its key (connectionParams are JSON, not HTTP headers).
        params = self.connection_params if isinstance(self.connection_params, dict) else {}
        for key, value in params.items():
            if isinstance(key, str) and key.lower() == "authorization" and isinstance(value, str):
                return value
        return self._connection.headers.get("authorization")

    async def principal(self) -> Principal | None:
        """The verified caller, None when anonymous; raises when the token is bad."""
        if self._principal is _NOT_YET:
            token = bearer_token(self._authorization())
            self._principal = None if token is None else await self.verifier.verify(token)
            if self._principal is not None:
                await self.revocations.check(self._principal)
                user_id = str(self._principal.user_id)
                user_id_var.set(user_id)
                trace.get_current_span().set_attribute("enduser.id", user_id)
        return self._principal  # type: ignore[no-any-return]

    async def require_principal(self) -> Principal:
        principal = await self.principal()
        if principal is None:
            raise Unauthenticated()
        return principal

    async def token_problem(self) -> Unauthenticated | None:
        """Why the caller's token no longer holds (expired, revoked), if it does not."""
        principal = self._principal
        if not isinstance(principal, Principal):
            return None
        if time.time() >= principal.expires_at:
            return Unauthenticated("Access token expired", reason="TOKEN_EXPIRED")
        try:
            await self.revocations.check(principal)
        except Unauthenticated as error:
            return error
        return None

    def guard_stream(self, results: AsyncGenerator[Any, None]) -> AsyncGenerator[Any, None]:
        """`results` (a subscription's), ended with an UNAUTHENTICATED error once the token
        it was started with expires or is revoked; anonymous streams as they are."""
        if self._authorization() is None:
            return results
        return self._until_token_ends(results)

    async def _until_token_ends(
        self, results: AsyncGenerator[Any, None]
    ) -> AsyncGenerator[Any, None]:
        """`results` is iterated by one task of its own from start to end (its spans and
        context variables are entered and left in the same task), which hands results over
        through a small queue; between them, the token is checked every
        TOKEN_CHECK_SECONDS. Clients reconnect with a fresh token."""
        handover: asyncio.Queue[Any] = asyncio.Queue(maxsize=64)

        async def pump() -> None:
            try:
                async for result in results:
                    await handover.put(result)
            finally:
                await results.aclose()

        pumping = asyncio.create_task(pump())
        next_result: asyncio.Task[Any] | None = None
        checked_at = time.monotonic()
        try:
            while True:
                if not handover.empty():
                    yield handover.get_nowait()
                elif pumping.done():
                    pumping.result()  # the stream's own failure, if it failed
                    return
                else:
                    if next_result is None:
                        next_result = asyncio.create_task(handover.get())
                    await asyncio.wait(
                        {next_result, pumping},
                        timeout=TOKEN_CHECK_SECONDS,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    if next_result.done():
                        result, next_result = next_result.result(), None
                        yield result
                if time.monotonic() - checked_at >= TOKEN_CHECK_SECONDS:
                    checked_at = time.monotonic()
                    problem = await self.token_problem()
                    if problem is not None:
                        yield ExecutionResult(data=None, errors=[problem])
                        return
        finally:
            for task in (next_result, pumping):
                if task is not None:
                    task.cancel()
            with contextlib.suppress(BaseException):
                await pumping
