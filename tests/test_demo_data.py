"""The demo data `make dev` loads: people with every role, and events, one full with a waitlist."""

from datetime import UTC, datetime
from typing import Any

import asyncpg

from tests.support.environment import StackEnvironment
from tests.support.graphql import GraphQLClient
from tests.support.waiting import eventually
from tools.seed import DEMO_PASSWORD, demo_events, seed_demo_data

RECOMMENDED = """
query($eventId: ID) {
  recommendations(eventId: $eventId, first: 10) {
    edges { node { user { name } score reasons { text } } }
  }
}
"""
EVENTS = """
query Demo($text: String!) {
  events(filter: {text: $text}, first: 100) { edges { node {
    id title capacity seatsTaken seatsLeft waitlistLength organizer { name }
  } } }
}
"""

CHATS = """
query { conversations(first: 10) { edges { node { kind unreadCount } } } unreadMessageCount }
"""


async def test_demo_data_loads_twice_without_duplicates(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    for _ in range(2):  # `make dev` seeds on every start
        lines = await seed_demo_data(environment.router_url, environment.config.database_url)
    assert any("grace@meetinity.dev" in line for line in lines)

    login = await api.data(
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { user { role } } }",
        {"e": "ada@meetinity.dev", "p": DEMO_PASSWORD},
    )
    assert login["login"]["user"]["role"] == "ADMIN"

    # Other tests' events share this database; the demo ones are Grace's.
    python_night = await _graces_events(api, "Paris Python Night")
    for event in python_night:
        event.pop("id")
    assert python_night == [
        {"title": "Paris Python Night", "capacity": 3, "seatsTaken": 3, "seatsLeft": 0,
         "waitlistLength": 1, "organizer": {"name": "Grace Hopper"}}
    ]  # fmt: skip
    [reading_group] = await _graces_events(api, "Remote ML Reading Group")

    # The demo login sees people worth meeting at the demo events, with the reasons.
    ada = await api.data(
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
        {"e": "ada@meetinity.dev", "p": DEMO_PASSWORD},
    )
    token = ada["login"]["accessToken"]

    async def recommended() -> list[dict[str, Any]]:
        data = await api.data(RECOMMENDED, {"eventId": reading_group["id"]}, token)
        nodes: list[dict[str, Any]] = [e["node"] for e in data["recommendations"]["edges"]]
        return nodes if len(nodes) >= 3 else []

    nodes = await eventually(recommended, "Ada's recommendations at the reading group")
    assert {nodes[0]["user"]["name"], nodes[1]["user"]["name"]} == {
        "Alan Turing", "Margaret Hamilton",
    }  # fmt: skip
    reasons = [reason["text"] for reason in nodes[0]["reasons"]]
    assert "both attend *Remote ML Reading Group*" in reasons
    assert any("which you seek" in text for text in reasons)
    assert any("which you offer" in text for text in reasons)

    # Ada has chats waiting: the same ones, however often the seed ran.
    ada = await api.data(
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
        {"e": "ada@meetinity.dev", "p": DEMO_PASSWORD},
    )
    chats = await api.data(CHATS, token=ada["login"]["accessToken"])
    conversations = [edge["node"] for edge in chats["conversations"]["edges"]]
    assert sorted(c["kind"] for c in conversations) == ["DIRECT", "DIRECT", "GROUP"]
    assert sorted(c["unreadCount"] for c in conversations) == [1, 2, 2]
    assert chats["unreadMessageCount"] == 5


async def _graces_events(api: GraphQLClient, title: str) -> list[dict[str, Any]]:
    edges = (await api.data(EVENTS, {"text": title}))["events"]["edges"]
    return [edge["node"] for edge in edges if edge["node"]["organizer"]["name"] == "Grace Hopper"]


async def test_seeding_again_after_the_demo_events_started_and_a_seat_was_cancelled(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    """`make dev` on a machine that ran it weeks ago: its `.data/` holds demo events that
    have started since and a demo seat someone gave up; seeding must still succeed."""
    database_url = environment.config.database_url
    await seed_demo_data(environment.router_url, database_url)
    [python_night] = await _graces_events(api, "Paris Python Night")
    alan = await api.data(
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
        {"e": "alan@meetinity.dev", "p": DEMO_PASSWORD},
    )
    await api.data(
        "mutation($id: ID!) { cancelRegistration(eventId: $id) { status } }",
        {"id": python_night["id"]},
        alan["login"]["accessToken"],
    )
    titles = [event["title"] for event in demo_events()]
    connection = await asyncpg.connect(database_url)
    try:  # weeks later: every demo event (the draft too) started yesterday
        aged = await connection.execute(
            """UPDATE events.events SET starts_at = now() - interval '1 day',
                                        ends_at = now() - interval '20 hours'
               WHERE title = ANY($1::text[]) AND organizer_id =
                     (SELECT id FROM users.users WHERE email = 'grace@meetinity.dev')""",
            titles,
        )
    finally:
        await connection.close()
    assert aged == f"UPDATE {len(titles)}"

    lines = await seed_demo_data(environment.router_url, database_url)

    assert any("grace@meetinity.dev" in line for line in lines)
    [again] = await _graces_events(api, "Paris Python Night")
    assert again["id"] == python_night["id"]  # moved forward, not made again
    assert {key: again[key] for key in ("seatsTaken", "seatsLeft", "waitlistLength")} == {
        "seatsTaken": 3, "seatsLeft": 0, "waitlistLength": 1,
    }  # fmt: skip
    starts = await api.data(
        "query($id: ID!) { event(id: $id) { startsAt status } }", {"id": again["id"]}
    )
    assert starts["event"]["status"] == "PUBLISHED"
    assert datetime.fromisoformat(starts["event"]["startsAt"]) > datetime.now(UTC)
