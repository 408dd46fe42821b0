"""Token lifecycle through the router: suspension, role changes and logout end existing
tokens everywhere within seconds; subscriptions end when their token expires or is
revoked; a refresh retried after a network drop gets the same successor."""

import asyncio
import uuid
from typing import Any

from shared.auth import Role, TokenSigner
from tests.support.environment import StackEnvironment
from tests.support.events import CREATE, REGISTER, event_input, published_event
from tests.support.graphql import GraphQLClient, subscribe
from tests.support.streams import events_about
from tests.support.users import Person, sign_up, with_role
from tests.support.waiting import eventually

SUSPEND = "mutation S($id: ID!) { suspendUser(userId: $id) { id suspendedAt } }"
UNSUSPEND = "mutation U($id: ID!) { unsuspendUser(userId: $id) { id suspendedAt } }"
SET_ROLE = "mutation R($id: ID!, $role: Role!) { setUserRole(userId: $id, role: $role) { role } }"
LOG_IN = """
mutation L($email: String!, $password: String!) {
  login(email: $email, password: $password) { accessToken }
}
"""
LOG_OUT = "mutation O($token: String!) { logout(refreshToken: $token) }"
REFRESH = """
mutation R($token: String!) { refreshToken(refreshToken: $token) { accessToken refreshToken } }
"""
MINE = "subscription { myRegistrationChanged { change } }"


def codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors") or []]


async def _refused(api: GraphQLClient, query: str, variables: dict[str, Any], token: str) -> bool:
    return codes(await api.execute(query, variables, token)) == ["UNAUTHENTICATED"]


async def test_a_suspended_accounts_tokens_stop_working_everywhere(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    admin = await with_role(api, environment.config.database_url, "admin")
    organizer = await with_role(api, environment.config.database_url, "organizer")
    event_id = await published_event(api, organizer)
    member = await sign_up(api, "Suspended Sam")
    suspended = await api.data(SUSPEND, {"id": member.id}, admin.token)
    assert suspended["suspendUser"]["suspendedAt"] is not None
    # Users and events subgraphs alike, within a few seconds.
    await eventually(lambda: _refused(api, "{ me { id } }", {}, member.token), "me refused", 10)
    await eventually(
        lambda: _refused(api, REGISTER, {"id": event_id}, member.token), "register refused", 10
    )
    # No new session: log-in and refresh are refused.
    login = await api.execute(LOG_IN, {"email": member.email, "password": "correct horse battery"})
    assert codes(login) == ["FORBIDDEN"], login
    assert codes(await api.execute(REFRESH, {"token": member.refresh_token})) == ["UNAUTHENTICATED"]
    # Reinstated, the person signs in again.
    await api.data(UNSUSPEND, {"id": member.id}, admin.token)
    assert not (
        await api.execute(LOG_IN, {"email": member.email, "password": "correct horse battery"})
    ).get("errors")


async def test_suspension_is_published_for_other_subgraphs(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    admin = await with_role(api, environment.config.database_url, "admin")
    member = await sign_up(api, "Published")
    await api.data(SUSPEND, {"id": member.id}, admin.token)
    await api.data(SUSPEND, {"id": member.id}, admin.token)  # twice: published once
    await api.data(UNSUSPEND, {"id": member.id}, admin.token)
    events = await events_about(environment, "users", member.id, 3, "the suspension events")
    (_, _, _), suspended, unsuspended = events
    assert suspended[0] == "user.suspended" and unsuspended[0] == "user.unsuspended"
    assert suspended[2] == unsuspended[2] == {"user_id": member.id}
    assert int(unsuspended[1]) > int(suspended[1])


async def test_a_demoted_organizer_can_no_longer_create_events(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    admin = await with_role(api, environment.config.database_url, "admin")
    organizer = await with_role(api, environment.config.database_url, "organizer")
    assert not (await api.execute(CREATE, {"input": event_input()}, organizer.token)).get("errors")
    await api.data(SET_ROLE, {"id": organizer.id, "role": "MEMBER"}, admin.token)
    await eventually(
        lambda: _refused(api, CREATE, {"input": event_input()}, organizer.token),
        "createEvent refused",
        10,
    )


async def test_a_token_for_an_account_that_does_not_exist_is_unauthenticated(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    signer = TokenSigner(
        environment.config.jwt_private_key_file, "meetinity-users", "meetinity", 600
    )
    token, _ = signer.issue(uuid.uuid4(), Role.MEMBER)
    assert codes(await api.execute("{ me { id } }", token=token)) == ["UNAUTHENTICATED"]


async def test_logout_ends_the_sessions_access_tokens(
    api: GraphQLClient,
) -> None:
    person = await sign_up(api, "Leaving")
    other_device = await sign_up_again(api, person)
    await api.data(LOG_OUT, {"token": person.refresh_token}, person.token)
    await eventually(lambda: _refused(api, "{ me { id } }", {}, person.token), "token refused", 10)
    # Only that session: the other device keeps working.
    assert not (await api.execute("{ me { id } }", token=other_device)).get("errors")


async def sign_up_again(api: GraphQLClient, person: Person) -> str:
    body = await api.data(LOG_IN, {"email": person.email, "password": "correct horse battery"})
    token: str = body["login"]["accessToken"]
    return token


async def test_a_subscription_ends_when_its_token_expires(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    person = await sign_up(api, "Short Lived")
    signer = TokenSigner(environment.config.jwt_private_key_file, "meetinity-users", "meetinity", 3)
    token, _ = signer.issue(uuid.UUID(person.id), Role.MEMBER)
    async with subscribe(environment.router_ws_url, MINE, token=token) as subscription:
        errors = await subscription.error(within=20)
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_subscription_ends_when_its_session_is_logged_out(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    person = await sign_up(api, "Logged Out")
    async with subscribe(environment.router_ws_url, MINE, token=person.token) as subscription:
        await asyncio.sleep(1)
        await api.data(LOG_OUT, {"token": person.refresh_token})
        errors = await subscription.error(within=20)
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_retried_refresh_gets_the_same_successor(api: GraphQLClient) -> None:
    person = await sign_up(api, "Flaky Network")
    first = (await api.data(REFRESH, {"token": person.refresh_token}))["refreshToken"]
    again = (await api.data(REFRESH, {"token": person.refresh_token}))["refreshToken"]
    assert again["refreshToken"] == first["refreshToken"]
    # The successor works, once.
    assert not (await api.execute(REFRESH, {"token": first["refreshToken"]})).get("errors")
