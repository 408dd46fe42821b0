"""`Match.conversation` through the router: messaging adds the two people's DIRECT
conversation to the match that matching owns, for them and nobody else, at a constant
number of SQL statements for any page of matches."""

import uuid
from typing import Any

import httpx

from subgraphs.matching.tests.support import LIKE, profiled, wait_until_recommended
from tests.support.chat import START_DIRECT
from tests.support.environment import StackEnvironment
from tests.support.graphql import GraphQLClient
from tests.support.metrics import sql_statements
from tests.support.users import Person
from tests.support.waiting import eventually

MATCHES = """
query Matches($first: Int!) {
  matches(first: $first) {
    edges { node {
      id users { id }
      conversation { id kind participants { id name } unreadCount lastMessage { body } }
    } }
  }
}
"""
CONVERSATION = "query One($id: ID!) { conversation(id: $id) { id } }"
# What the router asks messaging for a match, sent to messaging itself.
MATCH_ENTITY = """
query Entities($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on Match { id conversation { id } } }
}
"""


def _tag() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


async def _matched(api: GraphQLClient, viewer: Person, others: list[Person]) -> None:
    """Each of `others` and the viewer like each other (once matching knows them all)."""
    await wait_until_recommended(api, viewer, others)
    for other in others:
        await api.data(LIKE, {"userId": viewer.id}, other.token)
        assert (await api.data(LIKE, {"userId": other.id}, viewer.token))["like"]["matched"]


async def _matches_once_conversations_exist(
    api: GraphQLClient, person: Person, count: int
) -> list[dict[str, Any]]:
    """The person's matches once messaging has made the conversation of each."""

    async def all_there() -> list[dict[str, Any]] | None:
        data = await api.data(MATCHES, {"first": 20}, person.token)
        nodes = [edge["node"] for edge in data["matches"]["edges"]]
        ready = len(nodes) == count and all(node["conversation"] for node in nodes)
        return nodes if ready else None

    found: list[dict[str, Any]] = await eventually(
        all_there, f"the conversations of {person.name}'s {count} matches", within=30
    )
    return found


async def _as_messaging_resolves_it(
    environment: StackEnvironment, match_id: str, token: str | None
) -> dict[str, Any]:
    """The match as messaging resolves it for the router, for the holder of `token`."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient() as client:
        response = await client.post(
            environment.config.url("messaging", "/graphql"),
            json={
                "query": MATCH_ENTITY,
                "variables": {"representations": [{"__typename": "Match", "id": match_id}]},
            },
            headers=headers,
        )
    body = response.json()
    assert "errors" not in body, body
    [entity] = body["data"]["_entities"]
    return entity  # type: ignore[no-any-return]


async def test_a_match_shows_its_two_peoples_direct_conversation_to_them_only(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    one, two = _tag(), _tag()
    mia = await profiled(api, "Mia Matched", seeks=[one], offers=[two])
    noah = await profiled(api, "Noah Matched", seeks=[two], offers=[one])
    olga = await profiled(api, "Olga Outsider", seeks=[two], offers=[one])
    await _matched(api, mia, [noah])

    [seen_by_mia] = await _matches_once_conversations_exist(api, mia, 1)
    [seen_by_noah] = await _matches_once_conversations_exist(api, noah, 1)
    assert seen_by_mia["id"] == seen_by_noah["id"]
    conversation = seen_by_mia["conversation"]
    assert conversation == seen_by_noah["conversation"]
    assert conversation["kind"] == "DIRECT"
    assert {p["name"] for p in conversation["participants"]} == {"Mia Matched", "Noah Matched"}
    # The very conversation either of them starts (or finds) with the other.
    started = await api.data(START_DIRECT, {"userId": noah.id}, mia.token)
    assert started["startDirectConversation"]["id"] == conversation["id"]

    # Anyone else: no match to see, no conversation to read, and messaging resolves the
    # match's conversation to nothing for them (or for nobody signed in).
    assert (await api.data(MATCHES, {"first": 20}, olga.token))["matches"]["edges"] == []
    assert await api.error_code(CONVERSATION, {"id": conversation["id"]}, olga.token) == (
        "NOT_FOUND"
    )
    match_id = seen_by_mia["id"]
    for token in (olga.token, None):
        entity = await _as_messaging_resolves_it(environment, match_id, token)
        assert entity == {"id": match_id, "conversation": None}
    entity = await _as_messaging_resolves_it(environment, match_id, noah.token)
    assert entity == {"id": match_id, "conversation": {"id": conversation["id"]}}


async def test_a_page_of_matches_costs_messaging_the_same_sql_whatever_its_size(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    costs = []
    for size in (1, 4):
        need, gift = _tag(), _tag()
        viewer = await profiled(api, f"Viewer of {size}", seeks=[need], offers=[gift])
        others = [
            await profiled(api, f"Match {n} of {size}", offers=[need], seeks=[gift])
            for n in range(size)
        ]
        await _matched(api, viewer, others)
        await _matches_once_conversations_exist(api, viewer, size)
        before = await sql_statements(environment.config, "messaging")
        await api.data(MATCHES, {"first": 20}, viewer.token)
        costs.append(await sql_statements(environment.config, "messaging") - before)
    assert costs[0] == costs[1], costs
