"""Chat fan-out: N subscribers to one EVENT room through the router, how long a message
takes from `sendMessage` returning to its arrival at every subscriber, and how many
messages per second 10 senders sustain while everyone listens.

A private stack like the tests'. The room and its N + senders participants are
written straight into the messaging tables (setting up 1,000 attendees through
registrations would measure the events subgraph, not the chat), tokens are signed with
the stack's key; everything measured goes through the router: N WebSocket clients
(graphql-transport-ws) subscribed to `conversationEvents` selecting
`message { seq body author { name avatarUrl } }`, and `sendMessage` over HTTP.

1. Latency: `--messages` messages, one at a time, `--pause` seconds apart; for each,
   the delay from the sender's `sendMessage` response to its arrival at each
   subscriber (negative delays, a delivery before the response, count as 0), and
   from the moment the request left (which includes the send itself).
2. Throughput: `--senders` senders send back to back for `--seconds`; messages per
   second accepted, and whether every subscriber received every one.

The clients run in this one Python process, which shares the machine's two cores
with the stack: its own time to read N frames is part of what is measured.

    .venv/bin/python -m bench.chat_fanout --subscribers 100 1000
"""

import argparse
import asyncio
import json
import os
import platform
import shutil
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
import websockets

from bench.load import _tree_cpu
from bench.support import percentile, summary_ms
from shared.auth import Role, TokenSigner
from shared.settings import get_settings
from tests.support.chat import SEND
from tests.support.environment import (
    StackEnvironment,
    create_environment,
    destroy_environment,
    running_stack,
)
from tests.support.metrics import sql_statements
from tools.stack import Stack

SUBSCRIBE = """
subscription Room($id: ID!) {
  conversationEvents(conversationId: $id) {
    kind seq message { seq body author { name avatarUrl } }
  }
}
"""


@contextmanager
def chat_stack() -> Iterator[tuple[StackEnvironment, Stack]]:
    with tempfile.TemporaryDirectory() as tmp:
        environment = create_environment(Path(tmp), traced=False)
        # The per-sender limit (20 in 10 s) would cap the throughput run.
        environment.config.env["CHAT_RATE_LIMIT_MESSAGES"] = "1000000"
        try:
            for stack in running_stack(environment):
                yield environment, stack
        finally:
            if os.environ.get("KEEP_LOGS") and environment.config.log_dir:
                shutil.copytree(environment.config.log_dir, os.environ["KEEP_LOGS"],
                                dirs_exist_ok=True)  # fmt: skip
            destroy_environment(environment)


async def event_room(database_url: str, people: list[uuid.UUID]) -> uuid.UUID:
    """An EVENT room with these participants, each known by name to messaging."""
    room, event_id = uuid.uuid4(), uuid.uuid4()
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "INSERT INTO messaging.conversations (id, kind, event_id) VALUES ($1, 'event', $2)",
            room,
            event_id,
        )
        await connection.executemany(
            "INSERT INTO messaging.notification_recipients (user_id, name, avatar_url, version)"
            " VALUES ($1, $2, $3, 1)",
            [(p, f"Attendee {n}", f"https://example.com/{n}.png") for n, p in enumerate(people)],
        )
        await connection.executemany(
            "INSERT INTO messaging.participants (conversation_id, user_id) VALUES ($1, $2)",
            [(room, p) for p in people],
        )
    finally:
        await connection.close()
    return room


class Subscriber:
    """One WebSocket client; notes when each message (by body) arrived."""

    def __init__(self, ws_url: str, token: str, room: uuid.UUID) -> None:
        self.ws_url, self.token, self.room = ws_url, token, room
        self.arrivals: dict[str, float] = {}
        self.ready = asyncio.Event()
        self.wrong_author = 0

    async def run(self) -> None:
        async with websockets.connect(
            self.ws_url,
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            max_queue=None,
        ) as socket:
            init = {"type": "connection_init", "payload": {"authorization": f"Bearer {self.token}"}}
            await socket.send(json.dumps(init))
            assert json.loads(await socket.recv())["type"] == "connection_ack"
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
                "query": SUBSCRIBE, "variables": {"id": str(self.room)}}}))  # fmt: skip
            self.ready.set()
            async for raw in socket:
                now = time.perf_counter()
                frame = json.loads(raw)
                if frame["type"] == "ping":
                    await socket.send(json.dumps({"type": "pong"}))
                    continue
                if frame["type"] != "next":
                    raise RuntimeError(f"subscription ended: {frame}")
                message = frame["payload"]["data"]["conversationEvents"]["message"]
                if not message["author"]["name"].startswith("Attendee"):
                    self.wrong_author += 1
                self.arrivals[message["body"]] = now


async def send(
    client: httpx.AsyncClient, url: str, token: str, room: uuid.UUID, body: str
) -> tuple[float, float]:
    """When the request left and when its answer came back."""
    started = time.perf_counter()
    response = await client.post(
        url,
        json={"query": SEND, "variables": {"id": str(room), "body": body}},
        headers={"authorization": f"Bearer {token}"},
    )
    returned = time.perf_counter()
    payload = response.json()
    if payload.get("errors"):
        raise RuntimeError(payload["errors"])
    return started, returned


async def wait_for(subscribers: list[Subscriber], bodies: list[str], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(body in s.arrivals for s in subscribers for body in bodies):
            return
        await asyncio.sleep(0.05)


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU seconds so far of each process of the stack, and of this client process."""
    spent = {process.name: _tree_cpu(process.popen.pid) for process in stack.processes}
    spent["bench client"] = time.process_time()
    return spent


async def measure(
    environment: StackEnvironment, stack: Stack, subscribers_count: int, args: argparse.Namespace
) -> dict[str, object]:
    settings = get_settings()
    signer = TokenSigner(
        environment.config.jwt_private_key_file, settings.jwt_issuer, settings.jwt_audience, 3600
    )
    listeners = [uuid.uuid4() for _ in range(subscribers_count)]
    senders = [uuid.uuid4() for _ in range(args.senders)]
    room = await event_room(environment.config.database_url, listeners + senders)
    tokens = {person: signer.issue(person, Role.MEMBER)[0] for person in listeners + senders}
    ws_url = environment.router_url.replace("http://", "ws://")
    subscribers = [Subscriber(ws_url, tokens[person], room) for person in listeners]
    tasks = []
    for batch in range(0, len(subscribers), 50):  # connect in batches, not all at once
        for subscriber in subscribers[batch : batch + 50]:
            tasks.append(asyncio.create_task(subscriber.run()))
        await asyncio.gather(*(s.ready.wait() for s in subscribers[batch : batch + 50]))
    url = environment.router_url
    limits = httpx.Limits(max_connections=args.senders * 2)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        # Until a probe reaches everyone, the router is still opening subscriptions.
        for attempt in range(100):
            probe = f"probe {attempt}"
            await send(client, url, tokens[senders[0]], room, probe)
            await wait_for(subscribers, [probe], 2.0)
            if all(probe in s.arrivals for s in subscribers):
                break
        else:
            raise RuntimeError("subscribers never all received a probe")
        delays: list[float] = []
        from_request: list[float] = []
        missing = 0
        for n in range(args.messages):
            body = f"latency {n}"
            started, returned = await send(
                client, url, tokens[senders[n % len(senders)]], room, body
            )
            await wait_for(subscribers, [body], 10.0)
            for s in subscribers:
                if body in s.arrivals:
                    delays.append(max(0.0, s.arrivals[body] - returned))
                    from_request.append(s.arrivals[body] - started)
                else:
                    missing += 1
            await asyncio.sleep(args.pause)

        sent: dict[int, list[str]] = defaultdict(list)
        failed: list[str] = []
        stop_at = time.perf_counter() + args.seconds

        async def sender(index: int) -> None:
            n = 0
            while time.perf_counter() < stop_at:
                body = f"load {index}-{n}"
                n += 1
                try:
                    await send(client, url, tokens[senders[index]], room, body)
                except RuntimeError:
                    failed.append(body)
                    continue
                sent[index].append(body)

        cpu_before = cpu_seconds(stack)
        started = time.perf_counter()
        await asyncio.gather(*(sender(i) for i in range(len(senders))))
        elapsed = time.perf_counter() - started
        bodies = [body for bodies in sent.values() for body in bodies]
        await wait_for(subscribers, bodies, 30.0)
        drained = time.perf_counter() - started
        cpu_after = cpu_seconds(stack)
        undelivered = sum(1 for s in subscribers for body in bodies if body not in s.arrivals)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    median, p99 = summary_ms(delays)
    request_median, request_p99 = summary_ms(from_request)
    return {
        "subscribers": subscribers_count,
        "latency_messages": args.messages,
        "p50_ms": round(median, 1),
        "p90_ms": round(percentile(delays, 0.90) * 1000, 1),
        "p99_ms": round(p99, 1),
        "max_ms": round(max(delays) * 1000, 1),
        "from_request_p50_ms": round(request_median, 1),
        "from_request_p99_ms": round(request_p99, 1),
        "latency_missing": missing,
        "senders": len(senders),
        "sent_per_second": round(len(bodies) / elapsed, 1),
        "delivered_per_second": round(len(bodies) * subscribers_count / drained, 1),
        "undelivered": undelivered,
        "send_errors": len(failed),
        # Where the time goes: CPU milliseconds per message sent, by process.
        "cpu_ms_per_message": {
            name: round((cpu_after[name] - cpu_before[name]) * 1000 / max(1, len(bodies)), 1)
            for name in cpu_after
            if name in cpu_before
        },
        "wrong_author": sum(s.wrong_author for s in subscribers),
    }


async def measured(
    environment: StackEnvironment, stack: Stack, count: int, args: argparse.Namespace
) -> dict[str, object]:
    """One run, and the SQL statements the users subgraph ran meanwhile (authors come
    with the messages: none expected)."""
    before = await sql_statements(environment.config, "users")
    result = await measure(environment, stack, count, args)
    result["users_sql_statements"] = await sql_statements(environment.config, "users") - before
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--messages", type=int, default=30)
    parser.add_argument("--pause", type=float, default=0.2)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()}")
    with chat_stack() as (environment, stack):
        for count in args.subscribers:
            result = asyncio.run(measured(environment, stack, count, args))
            result["load_after"] = [round(x, 1) for x in os.getloadavg()]
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
