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

    async def guard_stream(self, results: AsyncGenerator[Any, None]) -> AsyncGenerator[Any, None]:
        """`results` (a subscription's), ended with an UNAUTHENTICATED error once the token
        it was started with expires or is revoked. Clients reconnect with a fresh token."""
        pending: asyncio.Future[Any] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(anext(results))
                done, _ = await asyncio.wait({pending}, timeout=TOKEN_CHECK_SECONDS)
                if done:
                    try:
                        result = pending.result()
                    except StopAsyncIteration:
                        return
                    finally:
                        pending = None
                    yield result
                problem = await self.token_problem()
                if problem is not None:
                    yield ExecutionResult(data=None, errors=[problem])
                    return
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
            await results.aclose()
