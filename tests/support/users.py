"""People for tests: signed up through the router, promoted directly in the database."""

import uuid
from dataclasses import dataclass

import asyncpg

from tests.support.graphql import GraphQLClient

SIGN_UP = """
mutation SignUp($email: String!, $password: String!, $name: String!) {
  register(email: $email, password: $password, name: $name) {
    accessToken refreshToken user { id }
  }
}
"""
LOG_IN = """
mutation LogIn($email: String!, $password: String!) {
  login(email: $email, password: $password) { accessToken refreshToken user { id role } }
}
"""
PASSWORD = "correct horse battery"


@dataclass
class Person:
    id: str
    email: str
    name: str
    token: str
    refresh_token: str


async def sign_up(api: GraphQLClient, name: str = "Test Person") -> Person:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    data = await api.data(SIGN_UP, {"email": email, "password": PASSWORD, "name": name})
    payload = data["register"]
    return Person(
        payload["user"]["id"], email, name, payload["accessToken"], payload["refreshToken"]
    )


async def log_in(api: GraphQLClient, person: Person) -> Person:
    payload = (await api.data(LOG_IN, {"email": person.email, "password": PASSWORD}))["login"]
    person.token, person.refresh_token = payload["accessToken"], payload["refreshToken"]
    return person


async def with_role(api: GraphQLClient, database_url: str, role: str, name: str = "") -> Person:
    """Someone with `role`; the first admin of any deployment is made like this, in SQL."""
    person = await sign_up(api, name or role.title())
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "UPDATE users.users SET role = $1 WHERE id = $2", role, uuid.UUID(person.id)
        )
    finally:
        await connection.close()
    return await log_in(api, person)
