"""Matching's projection ends on the newest state whatever order events arrive in, with
two processes in one consumer group, and after a consumer is killed mid-stream."""

import asyncio
import dataclasses
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from shared.eventbus import DomainEvent, stream_name
from shared.migrations import upgrade
from subgraphs.matching.tests.support import UPDATE_PROFILE, fetch, publish_user_event
from subgraphs.messaging.tests.test_notification_consumer import private_database
from tests.support.environment import StackEnvironment
from tests.support.graphql import GraphQLClient
from tests.support.users import sign_up
from tests.support.waiting import eventually
from tools.stack import Stack, free_port


async def _person(database_url: str, user_id: str) -> dict[str, Any] | None:
    rows = await fetch(
        database_url,
        "SELECT name, city, skills, visibility, field_versions FROM matching.people"
        " WHERE user_id = $1",
        uuid.UUID(user_id),
    )
    return dict(rows[0]) if rows else None


async def test_profile_events_out_of_order_keep_each_fields_newest_value(
    environment: StackEnvironment, stack: Stack
) -> None:
    config = environment.config
    user_id = str(uuid.uuid4())
    registered = {
        "user_id": user_id, "name": "Late Larry", "visibility": "members", "city": "Lyon",
        "skills": ["cobol"], "interests": [], "offers": [], "seeks": [],
    }  # fmt: skip
    # Newest first: what parallel consumers or a redelivery can produce.
    await publish_user_event(
        config, "user.profile_updated", user_id,
        {"user_id": user_id, "changed": {"city": "Nantes"}}, 3,
    )  # fmt: skip
    await publish_user_event(
        config, "user.profile_updated", user_id,
        {"user_id": user_id, "changed": {"city": "Paris", "skills": ["rust"]}}, 2,
    )  # fmt: skip
    await publish_user_event(config, "user.registered", user_id, registered, 1)

    async def settled() -> dict[str, Any] | None:
        person = await _person(config.database_url, user_id)
        return person if person and person["name"] == "Late Larry" else None

    person = await eventually(settled, "the three events to be applied")
    assert person["city"] == "Nantes"  # version 3, not 2 or 1
    assert person["skills"] == ["rust"]  # version 2, not 1
    assert person["visibility"] == "members"  # only version 1 set it
    assert json.loads(person["field_versions"])["city"] == 3


async def test_two_matching_processes_end_on_the_newest_visibility_after_rapid_flips(
    api: GraphQLClient, environment: StackEnvironment, stack: Stack
) -> None:
    config = environment.config
    second = Stack(
        dataclasses.replace(config, env={**config.env, "CONSUMER_NAME": "matching-second"})
    )
    second.start_subgraph("matching", port=free_port(), replica="-second")
    try:
        await asyncio.to_thread(second.wait_ready)
        person = await sign_up(api)
        visibility = "MEMBERS"
        for flip in range(20):
            visibility = "PRIVATE" if flip % 2 == 0 else "MEMBERS"
            await api.data(UPDATE_PROFILE, {"input": {"visibility": visibility}}, person.token)
        [user] = await fetch(
            config.database_url, "SELECT version FROM users.users WHERE id = $1",
            uuid.UUID(person.id),
        )  # fmt: skip

        async def newest() -> bool:
            copy = await _person(config.database_url, person.id)
            return bool(copy) and (
                copy["visibility"],  # type: ignore[index]
                json.loads(copy["field_versions"])["visibility"],  # type: ignore[index]
            ) == (visibility.lower(), user["version"])

        await eventually(newest, "the newest visibility in matching's projection")
        redis = Redis.from_url(config.redis_url, decode_responses=True)
        try:
            consumers: Any = await redis.xinfo_consumers(
                stream_name(config.redis_prefix, "users"), "matching"
            )
        finally:
            await redis.aclose()
        assert "matching-second" in {consumer["name"] for consumer in consumers}
    finally:
        await asyncio.to_thread(second.stop)


REGISTRATIONS = 300


def _registration_events(event_id: uuid.UUID) -> list[DomainEvent]:
    """Each registration confirmed (version 1) then cancelled (version 2)."""
    events = []
    for _ in range(REGISTRATIONS):
        registration_id, user_id = uuid.uuid4(), uuid.uuid4()
        for version, status in ((1, "confirmed"), (2, "cancelled")):
            payload = {
                "registration_id": str(registration_id), "event_id": str(event_id),
                "user_id": str(user_id), "status": status, "change": status.upper(),
            }  # fmt: skip
            events.append(
                DomainEvent(
                    uuid.uuid4(),
                    f"registration.{status}",
                    str(registration_id),
                    datetime.now(UTC),
                    payload,
                    version,
                )
            )
    return events


async def test_a_consumer_killed_mid_stream_loses_nothing_and_applies_nothing_twice(
    environment: StackEnvironment, tmp_path: Path
) -> None:
    # Under the environment's prefix, so its clean-up removes these streams too.
    prefix = f"{environment.config.redis_prefix}:matching-{uuid.uuid4().hex[:6]}"
    events = _registration_events(uuid.uuid4())
    redis = Redis.from_url(environment.config.redis_url, decode_responses=True)
    pipeline = redis.pipeline(transaction=False)
    for event in events:
        pipeline.xadd(stream_name(prefix, "events"), event.to_stream_fields())  # type: ignore[arg-type]
    await pipeline.execute()
    async with private_database() as database:
        config = dataclasses.replace(
            environment.config, database_url=database, redis_prefix=prefix,
            ports=dict(environment.config.ports), log_dir=tmp_path / "logs",
        )  # fmt: skip
        processes = Stack(config)
        try:
            await asyncio.to_thread(upgrade, "matching", database)
            first = processes.start_subgraph("matching", port=free_port())

            async def applied() -> int:
                rows = await fetch(
                    database,
                    "SELECT count(*) AS n FROM matching.processed_events"
                    " WHERE consumer = 'matching'",
                )
                return int(rows[0]["n"])

            async def partway() -> bool:
                return await applied() >= 50

            await eventually(partway, "the consumer to be partway through", within=120)
            first.popen.kill()  # SIGKILL: no chance to acknowledge anything
            await asyncio.to_thread(first.popen.wait)
            processes.processes.remove(first)
            assert await applied() < len(events), "finished before it could be killed"
            processes.start_subgraph("matching", port=free_port())

            async def all_applied() -> bool:
                return await applied() >= len(events)

            # The dead consumer's unacknowledged entries are claimed after 30 s idle.
            await eventually(all_applied, "every event applied", within=150)
            await asyncio.sleep(1)
            assert await applied() == len(events)
            rows = await fetch(
                database,
                "SELECT status, version, count(*) AS n FROM matching.registrations"
                " GROUP BY status, version",
            )
            assert [(r["status"], r["version"], r["n"]) for r in rows] == [
                ("cancelled", 2, REGISTRATIONS)
            ]
        finally:
            await asyncio.to_thread(processes.stop)
            await redis.delete(stream_name(prefix, "events"))
            await redis.aclose()
