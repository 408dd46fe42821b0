"""The events subgraph's copy of profile visibility ends on the newest state, whatever
order the users' domain events arrive in, and someone it does not know yet is hidden."""

import asyncio
import dataclasses
import json
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from redis.asyncio import Redis

from shared.eventbus import stream_name
from shared.settings import REPO_ROOT
from subgraphs.events.tests.test_authorization import (
    UPDATE_PROFILE,
    _attendee_ids,
    _known_to_events,
)
from tests.support.environment import StackEnvironment
from tests.support.events import published_event, register
from tests.support.graphql import GraphQLClient
from tests.support.users import sign_up, with_role
from tests.support.waiting import eventually
from tools.stack import Stack, free_port


async def fetch(database_url: str, query: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        rows: list[asyncpg.Record] = await connection.fetch(query, *args)
        return rows
    finally:
        await connection.close()


async def run_tool(environment: StackEnvironment, *args: str) -> str:
    """`python -m tools …` against the test stack; its output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tools", *args,
        env=environment.config.subgraph_env(), cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    return output.decode().strip()


async def person_copy(database_url: str, user_id: str) -> tuple[str, int] | None:
    rows = await fetch(
        database_url,
        "SELECT visibility, version FROM events.people WHERE user_id = $1",
        uuid.UUID(user_id),
    )
    return (rows[0]["visibility"], rows[0]["version"]) if rows else None


async def test_an_older_visibility_event_arriving_late_does_not_undo_a_newer_one(
    environment: StackEnvironment, stack: Stack
) -> None:
    config = environment.config
    user_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    # What XAUTOCLAIM or a second relay can produce: version 2 is applied first.
    newer_id, older_id = uuid.uuid4(), uuid.uuid4()
    newer = {
        "id": str(newer_id), "type": "user.registered", "aggregate_id": user_id,
        "version": "2", "occurred_at": now.isoformat(),
        "payload": json.dumps({"user_id": user_id, "name": "Late",
                               "email": "late@example.com", "visibility": "private"}),
    }  # fmt: skip
    older = {
        "id": str(older_id), "type": "user.profile_updated", "aggregate_id": user_id,
        "version": "1", "occurred_at": now.isoformat(),
        # Both payload shapes, so the code before versions reads it too (and goes wrong).
        "payload": json.dumps({"user_id": user_id, "changed": {"visibility": "members"},
                               "profile": {"visibility": "members"}}),
    }  # fmt: skip
    redis = Redis.from_url(config.redis_url, decode_responses=True)
    try:
        for fields in (newer, older):
            await redis.xadd(stream_name(config.redis_prefix, "users"), fields)  # type: ignore[arg-type]
    finally:
        await redis.aclose()

    async def both_handled() -> bool:
        rows = await fetch(
            config.database_url,
            "SELECT event_id FROM events.processed_events WHERE event_id = ANY($1)",
            [newer_id, older_id],
        )
        return len(rows) == 2

    await eventually(both_handled, "the events subgraph to handle both events")
    assert await person_copy(config.database_url, user_id) == ("private", 2)


async def test_someone_the_events_subgraph_has_not_heard_of_is_hidden_from_fellow_attendees(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    event_id = await published_event(api, organizer)
    unknown, fellow = await sign_up(api), await sign_up(api)
    for person in (unknown, fellow):
        await register(api, event_id, person)
    await _known_to_events(api, event_id, unknown, fellow)
    # As if the users' event had not arrived yet (or was lost before this copy existed).
    await fetch(
        environment.config.database_url,
        "DELETE FROM events.people WHERE user_id = $1",
        uuid.UUID(unknown.id),
    )
    assert await _attendee_ids(api, event_id, fellow) == {fellow.id}
    assert await _attendee_ids(api, event_id, organizer) == {unknown.id, fellow.id}

    # The backfill sends everyone's visibility again; the copy is rebuilt.
    output = await run_tool(environment, "republish-visibility", unknown.id)
    assert output == "1 events recorded"
    await _known_to_events(api, event_id, unknown, fellow)
    assert await person_copy(environment.config.database_url, unknown.id) == ("members", 1)


async def test_two_events_processes_end_on_the_newest_visibility_after_rapid_flips(
    api: GraphQLClient, environment: StackEnvironment, stack: Stack
) -> None:
    config = environment.config
    second = Stack(
        dataclasses.replace(config, env={**config.env, "CONSUMER_NAME": "events-second"})
    )
    second.start_subgraph("events", port=free_port(), replica="-second")
    try:
        second.wait_ready()
        person = await sign_up(api)
        visibility = "MEMBERS"
        for flip in range(30):
            visibility = "PRIVATE" if flip % 2 == 0 else "MEMBERS"
            await api.data(UPDATE_PROFILE, {"visibility": visibility}, person.token)
        [user] = await fetch(
            config.database_url,
            "SELECT version FROM users.users WHERE id = $1",
            uuid.UUID(person.id),
        )

        async def newest() -> bool:
            copy = await person_copy(config.database_url, person.id)
            return copy == (visibility.lower(), user["version"])

        await eventually(newest, "the copy to reach the newest version")

        # Both processes took part, each under the name its configuration gives it.
        redis = Redis.from_url(config.redis_url, decode_responses=True)
        try:
            consumers: Any = await redis.xinfo_consumers(
                stream_name(config.redis_prefix, "users"), "events"
            )
        finally:
            await redis.aclose()
        assert "events-second" in {consumer["name"] for consumer in consumers}
    finally:
        second.stop()


async def test_an_operator_lists_dead_letters_and_replays_them(
    environment: StackEnvironment, stack: Stack
) -> None:
    config = environment.config
    stream = stream_name(config.redis_prefix, "users")
    event_id = str(uuid.uuid4())
    # An entry the events subgraph's consumer cannot read (no occurred_at).
    unreadable = {"id": event_id, "type": "user.registered", "aggregate_id": event_id}
    redis = Redis.from_url(config.redis_url, decode_responses=True)
    try:
        await redis.xadd(stream, unreadable)  # type: ignore[arg-type]

        async def listed() -> str:
            output = await run_tool(environment, "dead-letters", "list", "users")
            # Other subgraphs' groups read the users stream too, and dead-letter it as well.
            return next(
                (
                    line
                    for line in output.splitlines()
                    if event_id in line and "group=events" in line
                ),
                "",
            )

        line = await eventually(listed, "the unreadable entry among the dead letters")
        assert "reason=malformed" in line and "KeyError" in line
        letter_id = line.split()[0]

        output = await run_tool(environment, "dead-letters", "replay", "users", letter_id)
        assert output.startswith(f"{letter_id}: replayed as ")
        entries: Any = await redis.xrange(stream)
        assert [fields for _, fields in entries if fields.get("id") == event_id] == [
            unreadable,
            unreadable,
        ]
    finally:
        await redis.aclose()
