"""Recommendations and match scores cost the matching subgraph the same number of SQL
statements whatever the number of people on the page."""

import uuid

from subgraphs.matching.tests.support import profiled, wait_until_recommended
from tests.support.environment import StackEnvironment
from tests.support.events import published_event, register
from tests.support.graphql import GraphQLClient
from tests.support.metrics import sql_statements
from tests.support.users import Person, with_role

PAGE = """
query Page($eventId: ID, $first: Int!) {
  recommendations(eventId: $eventId, first: $first) {
    edges { node {
      user { id name }
      score
      reasons { kind text event { id title } }
      sharedEvents { id title }
    } }
  }
}
"""
ATTENDEES = """
query Attendees($id: ID!) {
  event(id: $id) {
    attendees(first: 50) { edges { node { user { id name matchScore matchReasons { text } } } } }
  }
}
"""


async def _crowd(
    api: GraphQLClient, environment: StackEnvironment, size: int
) -> tuple[str, Person, list[Person]]:
    """An event with a viewer and `size` people who suit them."""
    organizer = await with_role(api, environment.config.database_url, "organizer")
    event_id = await published_event(api, organizer, title=f"Crowd of {size}")
    need, gift = f"t{uuid.uuid4().hex[:8]}", f"t{uuid.uuid4().hex[:8]}"
    viewer = await profiled(api, "Viewer", seeks=[need], offers=[gift])
    others = [await profiled(api, f"Fit {n}", offers=[need], seeks=[gift]) for n in range(size)]
    for person in (viewer, *others):
        await register(api, event_id, person)
    await wait_until_recommended(api, viewer, others, event_id)
    return event_id, viewer, others


async def _cost(
    api: GraphQLClient, environment: StackEnvironment, query: str, variables: dict[str, object],
    viewer: Person,
) -> float:  # fmt: skip
    before = await sql_statements(environment.config, "matching")
    await api.data(query, variables, viewer.token)
    return await sql_statements(environment.config, "matching") - before


async def test_recommendations_and_match_scores_cost_constant_sql(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    small_event, small_viewer, small = await _crowd(api, environment, 2)
    large_event, large_viewer, large = await _crowd(api, environment, 8)

    page = await api.data(PAGE, {"eventId": large_event, "first": 50}, large_viewer.token)
    edges = page["recommendations"]["edges"]
    assert len(edges) == 8
    assert all(edge["node"]["sharedEvents"][0]["title"] == "Crowd of 8" for edge in edges)

    costs = [
        await _cost(api, environment, PAGE, {"eventId": event, "first": 50}, viewer)
        for event, viewer in ((small_event, small_viewer), (large_event, large_viewer))
    ]
    assert costs[0] == costs[1], costs
    overall = [
        await _cost(api, environment, PAGE, {"eventId": None, "first": 50}, viewer)
        for viewer in (small_viewer, large_viewer)
    ]
    assert overall[0] == overall[1], overall

    attendees = await api.data(ATTENDEES, {"id": large_event}, large_viewer.token)
    scored = [edge["node"]["user"] for edge in attendees["event"]["attendees"]["edges"]]
    assert len(scored) == 9
    assert all((user["matchScore"] is None) == (user["id"] == large_viewer.id) for user in scored)
    score_costs = [
        await _cost(api, environment, ATTENDEES, {"id": event}, viewer)
        for event, viewer in ((small_event, small_viewer), (large_event, large_viewer))
    ]
    assert score_costs[0] == score_costs[1], score_costs
    assert len(small) == 2 and len(large) == 8
