"""User references from other subgraphs are resolved in one SQL statement, however many."""

import httpx

from tests.support.environment import StackEnvironment
from tests.support.graphql import GraphQLClient
from tests.support.metrics import sql_statements
from tests.support.users import sign_up

ENTITIES = """
query Entities($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on User { id name } }
}
"""


async def _statements_for(environment: StackEnvironment, user_ids: list[str]) -> float:
    """SQL statements the users subgraph runs to resolve these references (as the router asks)."""
    base_url = environment.config.url("users", "")
    representations = [{"__typename": "User", "id": user_id} for user_id in user_ids]
    before = await sql_statements(environment.config, "users")
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{base_url}/graphql",
            json={"query": ENTITIES, "variables": {"representations": representations}},
        )
    body = response.json()
    assert "errors" not in body, body
    assert [entity["id"] for entity in body["data"]["_entities"]] == user_ids
    return await sql_statements(environment.config, "users") - before


async def test_user_references_cost_one_statement_whatever_their_number(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    people = [await sign_up(api, f"Person {n}") for n in range(40)]
    one = await _statements_for(environment, [people[0].id])
    forty = await _statements_for(environment, [person.id for person in people])
    assert one == forty == 1
