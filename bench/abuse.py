"""What one abusive client gets out of the router: the amplification query, and log-ins.

    python -m bench.abuse [--baseline DIR] [--events 40] [--seconds 20] [--concurrency 8]

For each stack (this checkout, and with `--baseline DIR` a checkout of the code before,
e.g. `git archive <commit> | tar -x -C DIR`, run side by side on the same machine):

1. One organizer publishes `--events` events; the anonymous amplification query
   `events(first: 100) → organizer → organizedEvents(first: 100) → organizer →
   organizedEvents(first: 100)` is sent once: objects returned, bytes, seconds, or the
   error code it was refused with.
2. For `--seconds`, `--concurrency` clients send `login` with wrong passwords (a new
   email each time, so only the per-address limit applies) from one client address
   (X-Forwarded-For, which the benchmark stack trusts from 127.0.0.1): attempts the
   router let through per second, and how many it refused with RATE_LIMITED.

Password hashing in the benchmark stacks is the tests' cheap one, so log-ins through are
faster than production's; what matters is the ceiling the limit puts on them.
"""

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.load import stack_under_test
from shared.auth import Role
from tests.support.events import CREATE, PUBLISH, event_input

AMPLIFICATION = """
{ events(first: 100) { edges { node { id title organizer { organizedEvents(first: 100) {
  edges { node { id title organizer { organizedEvents(first: 100) { edges { node { id title
} } } } } } } } } } } }
"""
LOG_IN = """
mutation LogIn($email: String!, $password: String!) {
  login(email: $email, password: $password) { accessToken }
}
"""
ADDRESS = "203.0.113.9"


def objects_in(value: Any) -> int:
    if isinstance(value, dict):
        return (1 if "id" in value else 0) + sum(objects_in(item) for item in value.values())
    if isinstance(value, list):
        return sum(objects_in(item) for item in value)
    return 0


async def seed(client: httpx.AsyncClient, url: str, token: str, events: int) -> None:
    headers = {"authorization": f"Bearer {token}"}
    for index in range(events):
        created = await client.post(
            url,
            json={"query": CREATE, "variables": {"input": event_input(title=f"Abuse {index}")}},
            headers=headers,
        )
        event_id = created.json()["data"]["createEvent"]["id"]
        await client.post(
            url, json={"query": PUBLISH, "variables": {"id": event_id}}, headers=headers
        )


async def amplification(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    started = time.perf_counter()
    response = await client.post(url, json={"query": AMPLIFICATION})
    elapsed = time.perf_counter() - started
    body = response.json()
    codes = sorted({e.get("extensions", {}).get("code") for e in body.get("errors") or []})
    return {
        "objects": objects_in(body.get("data")),
        "bytes": len(response.content),
        "seconds": round(elapsed, 3),
        "refused_with": codes[0] if codes and not body.get("data") else None,
    }


async def log_ins(url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    counts = {"through": 0, "rate_limited": 0, "other": 0}
    deadline = time.monotonic() + seconds

    async def client_loop(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            variables = {"email": f"{uuid.uuid4().hex[:12]}@example.com", "password": "guess"}
            response = await client.post(
                url,
                json={"query": LOG_IN, "variables": variables},
                headers={"x-forwarded-for": ADDRESS},
            )
            code = ((response.json().get("errors") or [{}])[0].get("extensions") or {}).get("code")
            key = {"UNAUTHENTICATED": "through", "RATE_LIMITED": "rate_limited"}.get(
                str(code), "other"
            )
            counts[key] += 1

    async with httpx.AsyncClient(timeout=60) as client:
        started = time.monotonic()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return {
        **counts,
        "seconds": round(elapsed, 1),
        "through_per_second": round(counts["through"] / elapsed, 2),
        "attempts_per_second": round(sum(counts.values()) / elapsed, 1),
    }


async def measure(label: str, checkout: Path, args: argparse.Namespace) -> dict[str, Any]:
    with stack_under_test(label, checkout) as stack:
        [token] = stack.tokens(1, role=Role.ORGANIZER)
        async with httpx.AsyncClient(timeout=120) as client:
            await seed(client, stack.router_url, token, args.events)
            amplified = await amplification(client, stack.router_url)
        logins = await log_ins(stack.router_url, args.seconds, args.concurrency)
    return {"stack": label, "amplification": amplified, "log_ins_from_one_address": logins}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="a checkout of the code to compare with")
    parser.add_argument("--events", type=int, default=40, help="events of the one organizer")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the log-in run")
    parser.add_argument("--concurrency", type=int, default=8, help="log-in clients at once")
    args = parser.parse_args()
    runs = [("after", Path(__file__).resolve().parent.parent)]
    if args.baseline:
        runs.insert(0, ("before", args.baseline.resolve()))
    for label, checkout in runs:
        print(json.dumps(asyncio.run(measure(label, checkout, args))), flush=True)


if __name__ == "__main__":
    main()
