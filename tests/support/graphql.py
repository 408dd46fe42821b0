"""GraphQL clients for tests: HTTP, and WebSocket subscriptions (graphql-transport-ws)."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import websockets


class GraphQLClient:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=400))

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The whole response body: `data` and/or `errors`."""
        all_headers = {**(headers or {})}
        if token:
            all_headers["authorization"] = f"Bearer {token}"
        response = await self.http.post(
            self.url, json={"query": query, "variables": variables or {}}, headers=all_headers
        )
        assert response.status_code < 500, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """The `data` of a response that must not have errors."""
        body = await self.execute(query, variables, token)
        assert not body.get("errors"), body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    async def error_code(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> str:
        """The `extensions.code` of the single error a failing operation must answer."""
        body = await self.execute(query, variables, token)
        errors = body.get("errors") or []
        assert errors, f"expected an error, got {body}"
        code: str = errors[0].get("extensions", {}).get("code", "")
        return code

    async def close(self) -> None:
        await self.http.aclose()


class Subscription:
    def __init__(self, socket: websockets.ClientConnection, operation_id: str) -> None:
        self._socket = socket
        self._id = operation_id

    async def next(self, within: float = 5.0) -> dict[str, Any]:
        """The payload of the next `next` message; fails on `error` or timeout."""
        while True:
            message = json.loads(await asyncio.wait_for(self._socket.recv(), within))
            if message["type"] == "ping":
                await self._socket.send(json.dumps({"type": "pong"}))
                continue
            assert message.get("id") == self._id, message
            assert message["type"] == "next", message
            payload: dict[str, Any] = message["payload"]
            return payload

    async def error(self, within: float = 5.0) -> list[dict[str, Any]]:
        """The errors the subscription ends with (an `error` message, or `next` with errors)."""
        while True:
            message = json.loads(await asyncio.wait_for(self._socket.recv(), within))
            if message["type"] == "error":
                errors: list[dict[str, Any]] = message["payload"]
                return errors
            if message["type"] == "next" and message["payload"].get("errors"):
                errors = message["payload"]["errors"]
                return errors
            assert message["type"] == "ping", message
            await self._socket.send(json.dumps({"type": "pong"}))


@asynccontextmanager
async def subscribe(
    ws_url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    connection_params: dict[str, Any] | None = None,
    extensions: dict[str, Any] | None = None,
) -> AsyncIterator[Subscription]:
    """A subscription; the token goes in connectionParams (as graphql-ws clients send it)
    unless `connection_params` or the subscribe message's `extensions` say otherwise."""
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        params = {"authorization": f"Bearer {token}"} if token else {}
        if connection_params is not None:
            params = connection_params
        await socket.send(json.dumps({"type": "connection_init", "payload": params}))
        ack = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        operation_id = uuid.uuid4().hex
        await socket.send(
            json.dumps(
                {
                    "id": operation_id,
                    "type": "subscribe",
                    "payload": {
                        "query": query,
                        "variables": variables or {},
                        **({"extensions": extensions} if extensions else {}),
                    },
                }
            )
        )
        yield Subscription(socket, operation_id)
