"""A page of events costs the same number of SQL statements whether it holds 5 or 50."""

import asyncio
import uuid

from tests.support.environment import StackEnvironment
from tests.support.events import REGISTER, published_event
from tests.support.graphql import GraphQLClient
from tests.support.metrics import sql_statements
from tests.support.users import Person, sign_up, with_role

PAGE = """
query Page($text: String!, $first: Int!) {
  events(filter: {text: $text}, first: $first) {
    edges { node {
      id title startsAt seatsTaken seatsLeft waitlistLength
      organizer { id name }
      myRegistration { status waitlistPosition ticketCode }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def _statements(
    api: GraphQLClient, environment: StackEnvironment, viewer: Person, text: str, first: int
) -> dict[str, float]:
    services = ("events", "users")
    before = {s: await sql_statements(environment.config, s) for s in services}
    page = await api.data(PAGE, {"text": text, "first": first}, viewer.token)
    edges = page["events"]["edges"]
    assert len(edges) == first
    assert all(edge["node"]["organizer"]["name"].startswith("Organizer") for edge in edges)
    assert any(edge["node"]["myRegistration"] for edge in edges)
    after = {s: await sql_statements(environment.config, s) for s in services}
    return {s: after[s] - before[s] for s in services}


async def test_a_page_of_events_costs_constant_sql(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    text = f"constant-{uuid.uuid4().hex[:8]}"
    organizers = [
        await with_role(api, environment.config.database_url, "organizer", f"Organizer {n}")
        for n in range(3)
    ]
    limit = asyncio.Semaphore(10)

    async def one(n: int) -> str:
        async with limit:
            return await published_event(
                api, organizers[n % 3], title=f"Event {n} {text}", capacity=1 + n % 2
            )

    await asyncio.gather(*(one(n) for n in range(50)))
    viewer = await sign_up(api)
    # Every other event in the page's own order, so that the small page holds some too.
    page = await api.data(PAGE, {"text": text, "first": 50}, viewer.token)
    for edge in page["events"]["edges"][::2]:
        await api.data(REGISTER, {"id": edge["node"]["id"]}, viewer.token)

    small = await _statements(api, environment, viewer, text, 5)
    large = await _statements(api, environment, viewer, text, 50)
    assert small == large, (small, large)
    # events: the page, and my registrations (one batch); users: the organizers (one batch)
    assert large == {"events": 2, "users": 1}
