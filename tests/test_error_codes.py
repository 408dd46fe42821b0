"""Error codes a client can trust, through the router: a client bug is BAD_USER_INPUT, never
UNAUTHENTICATED; every error the router produces has a code; a refused field is null on its
own without wiping the response."""

import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.environment import StackEnvironment
from tests.support.events import CREATE, draft_event, event_input
from tests.support.graphql import GraphQLClient, subscribe
from tests.support.users import sign_up, with_role

USER = "query User($id: ID!) { user(id: $id) { id } }"
EVENTS_BY_STATUS = """
query Events($status: EventStatus) { events(filter: {status: $status}) { edges { cursor } } }
"""
EVENTS_AFTER = """
query Events($after: DateTime) { events(filter: {startsAfter: $after}) { edges { cursor } } }
"""


def codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors") or []]


async def test_variable_errors_are_bad_user_input(api: GraphQLClient) -> None:
    missing = await api.execute(USER, {})
    wrong_type = await api.execute(USER, {"id": 5.5})
    unknown_enum = await api.execute(EVENTS_BY_STATUS, {"status": "NOPE"})
    for body in (missing, wrong_type, unknown_enum):
        assert codes(body) == ["BAD_USER_INPUT"], body
        assert "data" not in body, "refused before execution"


async def test_an_error_during_execution_leaves_data_null(api: GraphQLClient) -> None:
    body = await api.execute(USER, {"id": "not-an-id"})
    assert codes(body) == ["BAD_USER_INPUT"], body
    assert body["data"] is None, body


async def test_an_invalid_datetime_is_bad_user_input(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    literal = await api.execute(
        '{ events(filter: {startsAfter: "yesterday"}) { edges { cursor } } }'
    )
    variable = await api.execute(EVENTS_AFTER, {"after": "yesterday"})
    created = await api.execute(CREATE, {"input": event_input(startsAt="x")}, organizer.token)
    for body in (literal, variable, created):
        assert codes(body) == ["BAD_USER_INPUT"], body
    assert environment.config.log_dir is not None
    events_log = (environment.config.log_dir / "events.log").read_text().splitlines()
    errors = [line for line in events_log if '"level": "error"' in line]
    assert not [line for line in errors if "DateTime" in line]


async def test_text_holding_a_nul_character_is_bad_user_input(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    """PostgreSQL cannot store U+0000; wherever such text reaches it, the client is told."""
    member = await sign_up(api)
    organizer = await with_role(api, environment.config.database_url, "organizer")
    nul = "a\u0000b"
    answers = [
        await api.execute(
            'mutation($e: String!) { login(email: $e, password: "x") { accessToken } }',
            {"e": nul},
        ),
        await api.execute(
            "mutation($h: String!) { updateProfile(input: {headline: $h}) { id } }",
            {"h": nul},
            member.token,
        ),
        await api.execute(
            '{ events(filter: {text: "a\\u0000b"}) { edges { cursor } } }', {}, member.token
        ),
        await api.execute(
            "mutation($t: String!) { checkIn(ticketCode: $t) { id } }", {"t": nul}, organizer.token
        ),
    ]
    for body in answers:
        assert codes(body) == ["BAD_USER_INPUT"], body
        assert "NUL" in body["errors"][0]["message"], body
    assert environment.config.log_dir is not None
    for subgraph in ("users", "events"):
        log_lines = (environment.config.log_dir / f"{subgraph}.log").read_text().splitlines()
        assert not [line for line in log_lines if '"level": "error"' in line and "0x00" in line]


def _foreign_token(kid: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {
        "sub": str(uuid.uuid4()),
        "role": "member",
        "iss": "meetinity-users",
        "aud": "meetinity",
        "exp": int(time.time()) + 600,
    }
    return jwt.encode(claims, key, "RS256", headers={"kid": kid})


async def test_a_token_with_an_unknown_key_id_is_a_401_unauthenticated(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    for _ in range(30):  # a flood of random key ids
        response = await api.http.post(
            api.url,
            json={"query": "{ me { id } }"},
            headers={"authorization": f"Bearer {_foreign_token(uuid.uuid4().hex)}"},
        )
        assert response.status_code == 401, response.text
        assert codes(response.json()) == ["UNAUTHENTICATED"]
    # …has not used up the router's key fetches: a real token still works.
    person = await sign_up(api, "After The Flood")
    assert (await api.data("{ me { name } }", token=person.token))["me"][
        "name"
    ] == "After The Flood"
    assert environment.config.log_dir is not None
    router_log = (environment.config.log_dir / "router.log").read_text()
    assert "Authentication is not available" not in router_log


async def test_router_errors_all_have_a_code(api: GraphQLClient) -> None:
    deep = "{ me " + "{ profile { location " * 7 + "{ city }" + " } }" * 7 + " }"
    assert codes(await api.execute(deep)) == ["MAX_DEPTH_EXCEEDED"]
    assert codes(await api.execute("{ me { id }")) == ["GRAPHQL_PARSE_FAILED"]
    assert codes(await api.execute("{ mee { id } }")) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_the_bearer_scheme_is_case_insensitive(api: GraphQLClient) -> None:
    person = await sign_up(api, "Lower Case")
    for scheme in ("bearer", "BEARER", "Bearer"):
        body = await api.execute(
            "{ me { name } }", headers={"authorization": f"{scheme} {person.token}"}
        )
        assert body.get("data") == {"me": {"name": "Lower Case"}}, body
    body = await api.execute("{ me { name } }", headers={"authorization": f"Basic {person.token}"})
    assert codes(body) == ["UNAUTHENTICATED"]


SEATS = "subscription S($id: ID!) { eventSeatsChanged(eventId: $id) { eventId seatsTaken } }"


async def test_websocket_token_key_is_case_insensitive(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    # A draft is visible to its organizer alone: the subscription answers only with the token.
    draft = await draft_event(api, organizer)
    for key in ("Authorization", "AUTHORIZATION", "authorization"):
        params = {key: f"Bearer {organizer.token}"}
        async with subscribe(
            environment.router_ws_url, SEATS, {"id": draft}, connection_params=params
        ) as subscription:
            payload = await subscription.next(within=15)
        assert payload["data"]["eventSeatsChanged"] == {"eventId": draft, "seatsTaken": 0}, key


async def test_graphiql_subscriptions_send_the_token_in_extensions_headers(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    draft = await draft_event(api, organizer)
    # GraphiQL: an empty connection_init, the headers inside the subscribe message.
    async with subscribe(
        environment.router_ws_url,
        SEATS,
        {"id": draft},
        connection_params={},
        extensions={"headers": {"Authorization": f"Bearer {organizer.token}"}},
    ) as subscription:
        payload = await subscription.next(within=15)
    assert payload["data"]["eventSeatsChanged"] == {"eventId": draft, "seatsTaken": 0}


async def test_a_query_over_websocket_runs_as_the_connections_person(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    person = await sign_up(api, "Socket Reader")
    async with subscribe(environment.router_ws_url, "{ me { name } }", token=person.token) as query:
        payload = await query.next(within=15)
    assert payload == {"data": {"me": {"name": "Socket Reader"}}}, payload
    # Mutations go over HTTP POST only, and are refused with a code that says so.
    logout = 'mutation { logout(refreshToken: "x") }'
    async with subscribe(environment.router_ws_url, logout, token=person.token) as mutation:
        errors = await mutation.error(within=15)
    assert [error["extensions"]["code"] for error in errors] == ["BAD_REQUEST"], errors


async def test_a_refused_field_is_null_without_wiping_the_response(
    api: GraphQLClient,
) -> None:
    owner, stranger = await sign_up(api, "Owner"), await sign_up(api, "Stranger")
    body = await api.execute(
        """query U($id: ID!) {
          user(id: $id) {
            name registrations { edges { cursor } } organizedEvents { edges { cursor } }
          }
        }""",
        {"id": owner.id},
        stranger.token,
    )
    assert body["data"]["user"]["name"] == "Owner", body
    assert body["data"]["user"]["registrations"] is None
    assert body["data"]["user"]["organizedEvents"] == {"edges": []}
    [error] = body["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert error["path"] == ["user", "registrations"]
