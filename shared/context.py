"""The GraphQL context every subgraph builds per request (or per WebSocket connection)."""

from typing import Any

from opentelemetry import trace
from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

from shared.auth import Principal, TokenVerifier, bearer_token
from shared.db import Database
from shared.errors import Unauthenticated
from shared.logs import user_id_var
from shared.pubsub import PubSub
from shared.settings import Settings

_NOT_YET = object()


class RequestContext(BaseContext):
    def __init__(self, connection: HTTPConnection) -> None:
        super().__init__()
        state = connection.app.state
        self.settings: Settings = state.settings
        self.service: str = state.service
        self.db: Database = state.db
        self.pubsub: PubSub = state.pubsub
        self.verifier: TokenVerifier = state.verifier
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
                user_id = str(self._principal.user_id)
                user_id_var.set(user_id)
                trace.get_current_span().set_attribute("enduser.id", user_id)
        return self._principal  # type: ignore[no-any-return]

    async def require_principal(self) -> Principal:
        principal = await self.principal()
        if principal is None:
            raise Unauthenticated()
        return principal
