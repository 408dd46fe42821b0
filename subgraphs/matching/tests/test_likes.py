"""Likes, passes and matches through the router: a mutual like makes exactly one match,
announced live to both people and on the matching stream."""

import asyncio
import uuid

from subgraphs.matching.tests.support import (
    LIKE,
    MATCH_CREATED,
    MATCHES,
    PASS,
    UNDO_PASS,
    fetch,
    profiled,
    recommended_ids,
    stream_events,
    wait_until_recommended,
)
from tests.support.environment import StackEnvironment
from tests.support.events import published_event, register
from tests.support.graphql import GraphQLClient, subscribe
from tests.support.users import Person, sign_up, with_role
from tests.support.waiting import eventually

NETWORKING = """
query Networking($id: ID!) {
  event(id: $id) {
    title
    networking { attendees attendeesWithRecommendations likes mutualMatches }
  }
}
"""


def _tag() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


async def _pair(api: GraphQLClient, first: str = "Mia", second: str = "Noah") -> list[Person]:
    """Two people who answer each other's needs."""
    one, two = _tag(), _tag()
    return [
        await profiled(api, first, seeks=[one], offers=[two]),
        await profiled(api, second, seeks=[two], offers=[one]),
    ]


async def test_mutual_likes_make_one_match_told_live_to_both_and_on_the_stream(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    event_id = await published_event(api, organizer, title="Match Night")
    mia, noah = await _pair(api)
    for person in (mia, noah):
        await register(api, event_id, person)
    await wait_until_recommended(api, mia, [noah], event_id)
    await wait_until_recommended(api, noah, [mia], event_id)

    async with (
        subscribe(environment.router_ws_url, MATCH_CREATED, token=mia.token) as mia_live,
        subscribe(environment.router_ws_url, MATCH_CREATED, token=noah.token) as noah_live,
    ):
        await asyncio.sleep(0.5)  # the subscriptions reach the subgraph
        first = await api.data(LIKE, {"userId": noah.id, "eventId": event_id}, mia.token)
        assert first["like"] == {"matched": False, "match": None}
        assert noah.id not in await recommended_ids(api, mia)  # liked: out of Mia's list
        second = (await api.data(LIKE, {"userId": mia.id}, noah.token))["like"]
        assert second["matched"] is True
        match = second["match"]
        assert {user["id"] for user in match["users"]} == {mia.id, noah.id}
        assert match["event"] == {"id": event_id, "title": "Match Night"}
        for live in (mia_live, noah_live):
            payload = await live.next(within=15)
            assert payload.get("data"), payload
            told = payload["data"]["matchCreated"]
            assert told["id"] == match["id"]
            assert {user["name"] for user in told["users"]} == {"Mia", "Noah"}

    # Liking again changes nothing: the same match, no second one.
    again = (await api.data(LIKE, {"userId": mia.id}, noah.token))["like"]
    assert again["match"]["id"] == match["id"]
    for person in (mia, noah):
        page = (await api.data(MATCHES, {"first": 10, "after": None}, person.token))["matches"]
        assert [edge["node"]["id"] for edge in page["edges"]] == [match["id"]]
        assert mia.id not in await recommended_ids(api, noah)
        assert noah.id not in await recommended_ids(api, mia)

    async def announced() -> list[dict[str, object]]:
        events = await stream_events(environment.config, "matching")
        return [e for e in events if e["aggregate_id"] == match["id"]]

    [created] = await eventually(announced, "match.created on the matching stream")
    assert created["type"] == "match.created"
    assert created["payload"] == {
        "match_id": match["id"],
        "user_ids": sorted([mia.id, noah.id]),
        "event_id": event_id,
    }

    async def figures() -> dict[str, int]:
        data = await api.data(NETWORKING, {"id": event_id}, organizer.token)
        return data["event"]["networking"]  # type: ignore[no-any-return]

    assert await figures() == {
        "attendees": 2, "attendeesWithRecommendations": 2, "likes": 1, "mutualMatches": 1,
    }  # fmt: skip
    refused = await api.execute(NETWORKING, {"id": event_id}, mia.token)
    assert refused["data"]["event"] == {"title": "Match Night", "networking": None}
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_concurrent_mutual_likes_create_exactly_one_match_each(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    pairs = [await _pair(api, f"Left {n}", f"Right {n}") for n in range(8)]
    for left, right in pairs:
        await wait_until_recommended(api, left, [right])

    async def like(person: Person, other: Person) -> dict[str, object]:
        data = await api.data(LIKE, {"userId": other.id}, person.token)
        return data["like"]  # type: ignore[no-any-return]

    results = await asyncio.gather(
        *(
            like(person, other)
            for left, right in pairs
            for person, other in ((left, right), (right, left))
        )
    )
    assert all(result["matched"] is not None for result in results)
    for left, right in pairs:
        rows = await fetch(
            environment.config.database_url,
            "SELECT id FROM matching.matches WHERE user_a = $1 AND user_b = $2",
            *sorted([uuid.UUID(left.id), uuid.UUID(right.id)]),
        )
        assert len(rows) == 1, (left.name, right.name)
        match_id = str(rows[0]["id"])
        # Both people were told of the one match; each like answered it.
        for person in (left, right):
            page = (await api.data(MATCHES, {"first": 5, "after": None}, person.token))["matches"]
            assert [edge["node"]["id"] for edge in page["edges"]] == [match_id]

    async def one_event_per_match() -> bool:
        events = await stream_events(environment.config, "matching")
        created = [e["aggregate_id"] for e in events if e["type"] == "match.created"]
        return len(created) == len(set(created)) and all(
            any(set(e["payload"]["user_ids"]) == {left.id, right.id} for e in events)
            for left, right in pairs
        )

    await eventually(one_event_per_match, "one match.created per pair")


async def test_pass_hides_someone_until_undone_and_likes_refuse_bad_targets(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    kim, lee = await _pair(api, "Kim", "Lee")
    await wait_until_recommended(api, kim, [lee])
    assert (await api.data(PASS, {"userId": lee.id}, kim.token))["pass"] is True
    assert lee.id not in await recommended_ids(api, kim)
    assert (await api.data(UNDO_PASS, {"userId": lee.id}, kim.token))["undoPass"] is True
    assert lee.id in await recommended_ids(api, kim)
    assert (await api.data(UNDO_PASS, {"userId": lee.id}, kim.token))["undoPass"] is False

    nobody = str(uuid.uuid4())
    assert await api.error_code(LIKE, {"userId": kim.id}, kim.token) == "BAD_USER_INPUT"
    assert await api.error_code(LIKE, {"userId": "nope"}, kim.token) == "BAD_USER_INPUT"
    assert await api.error_code(LIKE, {"userId": nobody}, kim.token) == "NOT_FOUND"
    assert await api.error_code(PASS, {"userId": nobody}, kim.token) == "NOT_FOUND"
    assert await api.error_code(PASS, {"userId": kim.id}, kim.token) == "BAD_USER_INPUT"
    assert await api.error_code(LIKE, {"userId": lee.id}) == "UNAUTHENTICATED"
    assert await api.error_code(MATCHES, {"first": 0, "after": None}, kim.token) == (
        "BAD_USER_INPUT"
    )
    async with subscribe(environment.router_ws_url, MATCH_CREATED) as anonymous:
        [error] = await anonymous.error()
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    stranger = await sign_up(api)
    assert await api.error_code(NETWORKING, {"id": str(uuid.uuid4())}, stranger.token) in (
        "NOT_FOUND",
        "FORBIDDEN",
    )
