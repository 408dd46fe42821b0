"""The demo data `make dev` loads: people with every role, and events, one full with a waitlist."""

from tests.support.environment import StackEnvironment
from tests.support.graphql import GraphQLClient
from tools.seed import DEMO_PASSWORD, seed_demo_data

EVENTS = """
query Demo($text: String!) {
  events(filter: {text: $text}) { edges { node {
    title capacity seatsTaken seatsLeft waitlistLength organizer { name }
  } } }
}
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

    python_night = await api.data(EVENTS, {"text": "Paris Python Night"})
    assert [edge["node"] for edge in python_night["events"]["edges"]] == [
        {"title": "Paris Python Night", "capacity": 3, "seatsTaken": 3, "seatsLeft": 0,
         "waitlistLength": 1, "organizer": {"name": "Grace Hopper"}}
    ]  # fmt: skip
    assert len((await api.data(EVENTS, {"text": "Remote ML"}))["events"]["edges"]) == 1
