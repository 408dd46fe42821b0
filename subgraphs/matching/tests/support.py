"""People with profiles, their recommendations and likes, through the router."""

__all__ = ["fetch"]

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from redis.asyncio import Redis

from shared.eventbus import stream_name
from subgraphs.events.tests.test_people_projection import fetch
from tests.support.graphql import GraphQLClient
from tests.support.users import Person, sign_up
from tests.support.waiting import eventually
from tools.stack import StackConfig

UPDATE_PROFILE = """
mutation Profile($input: UpdateProfileInput!) { updateProfile(input: $input) { id } }
"""
RECOMMENDATIONS = """
query Recommendations($eventId: ID, $first: Int!, $after: String) {
  recommendations(eventId: $eventId, first: $first, after: $after) {
    edges { cursor node {
      user { id name }
      score
      reasons { kind direction text tags event { id title } }
      parts { yourInterest theirInterest offersToYou offersToThem topics events place }
      sharedEvents { id title }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
LIKE = """
mutation Like($userId: ID!, $eventId: ID) {
  like(userId: $userId, eventId: $eventId) {
    matched match { id users { id name } event { id title } createdAt }
  }
}
"""
PASS = "mutation Pass($userId: ID!) { pass(userId: $userId) }"
UNDO_PASS = "mutation UndoPass($userId: ID!) { undoPass(userId: $userId) }"
MATCHES = """
query Matches($first: Int!, $after: String) {
  matches(first: $first, after: $after) {
    edges { cursor node { id users { id name } event { id } createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
MATCH_CREATED = "subscription { matchCreated { id users { id name } event { id title } } }"


async def profiled(api: GraphQLClient, name: str, **profile: Any) -> Person:
    """Someone signed up with this profile (`location` as {"city", "country"})."""
    person = await sign_up(api, name)
    await api.data(UPDATE_PROFILE, {"input": profile}, person.token)
    return person


async def recommendations_of(
    api: GraphQLClient, person: Person, event_id: str | None = None, first: int = 50
) -> list[dict[str, Any]]:
    data = await api.data(
        RECOMMENDATIONS, {"eventId": event_id, "first": first, "after": None}, person.token
    )
    return [edge["node"] for edge in data["recommendations"]["edges"]]


async def recommended_ids(
    api: GraphQLClient, person: Person, event_id: str | None = None
) -> list[str]:
    return [node["user"]["id"] for node in await recommendations_of(api, person, event_id)]


async def wait_until_recommended(
    api: GraphQLClient,
    person: Person,
    others: list[Person],
    event_id: str | None = None,
    within: float = 30.0,
) -> list[dict[str, Any]]:
    """The person's recommendations once every one of `others` is in them."""

    async def all_there() -> list[dict[str, Any]] | None:
        nodes = await recommendations_of(api, person, event_id)
        ids = {node["user"]["id"] for node in nodes}
        return nodes if all(other.id in ids for other in others) else None

    names = ", ".join(other.name for other in others)
    found: list[dict[str, Any]] = await eventually(
        all_there, f"{names} in {person.name}'s recommendations", within=within
    )
    return found


async def publish_user_event(
    config: StackConfig, type: str, aggregate_id: str, payload: dict[str, Any], version: int
) -> uuid.UUID:
    """A users domain event straight onto the users stream (as the users subgraph would)."""
    event_id = uuid.uuid4()
    redis = Redis.from_url(config.redis_url, decode_responses=True)
    try:
        await redis.xadd(
            stream_name(config.redis_prefix, "users"),
            {
                "id": str(event_id), "type": type, "aggregate_id": aggregate_id,
                "version": str(version), "occurred_at": datetime.now(UTC).isoformat(),
                "payload": json.dumps(payload),
            },
        )  # fmt: skip
    finally:
        await redis.aclose()
    return event_id


async def bump_version(database_url: str, user_id: str) -> int:
    """The user's version after a change the users subgraph would make (block, suspension)."""
    connection = await asyncpg.connect(database_url)
    try:
        version: int = await connection.fetchval(
            "UPDATE users.users SET version = version + 1 WHERE id = $1 RETURNING version",
            uuid.UUID(user_id),
        )
        return version
    finally:
        await connection.close()


async def stream_events(config: StackConfig, producer: str) -> list[dict[str, Any]]:
    redis = Redis.from_url(config.redis_url, decode_responses=True)
    try:
        entries: Any = await redis.xrange(stream_name(config.redis_prefix, producer))
    finally:
        await redis.aclose()
    return [{**fields, "payload": json.loads(fields["payload"])} for _, fields in entries]
