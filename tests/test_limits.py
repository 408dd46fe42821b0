"""Cost and abuse limits at the public edge, through the router (docs/architecture.md,
"Limits"): demand control, aliases, per-address and per-account rate limits, CSRF, CORS,
body size, and the same document limits inside each subgraph."""

import uuid
from typing import Any

import httpx

from tests.support.environment import StackEnvironment
from tests.support.graphql import GraphQLClient
from tests.support.users import LOG_IN, PASSWORD, SIGN_UP, sign_up
from tools.stack import Stack

AMPLIFICATION = """
{ events(first: 100) { edges { node { organizer { organizedEvents(first: 100) { edges { node {
  organizer { organizedEvents(first: 100) { edges { node { id title } } } } } } } } } } } }
"""
REFRESH = """
mutation R($token: String!) { refreshToken(refreshToken: $token) { accessToken refreshToken } }
"""


def codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors") or []]


def an_address() -> str:
    """A client address of its own (the test stack trusts X-Forwarded-For from 127.0.0.1)."""
    number = uuid.uuid4().int
    return f"198.51.{number % 250}.{number // 250 % 250 + 1}"


async def post(
    api: GraphQLClient, query: str, variables: dict[str, Any], address: str
) -> httpx.Response:
    return await api.http.post(
        api.url, json={"query": query, "variables": variables}, headers={"x-forwarded-for": address}
    )


async def test_the_amplification_query_is_refused_for_its_estimated_cost(
    api: GraphQLClient,
) -> None:
    body = await api.execute(AMPLIFICATION)
    assert codes(body) == ["COST_ESTIMATED_TOO_EXPENSIVE"], body
    assert body.get("data") is None
    # An ordinary page is well within the budget.
    page = await api.execute("{ events(first: 20) { edges { node { id organizer { id } } } } }")
    assert not page.get("errors"), page


async def test_aliases_per_operation_are_capped(api: GraphQLClient) -> None:
    emails = [f"{uuid.uuid4().hex[:12]}@example.com" for _ in range(60)]
    fields = " ".join(
        f'r{i}: register(email: "{email}", password: "{PASSWORD}", name: "Alias") {{ accessToken }}'
        for i, email in enumerate(emails)
    )
    body = await api.execute(f"mutation {{ {fields} }}")
    assert codes(body) == ["MAX_ALIASES_EXCEEDED"], body
    # Nothing ran: the first address can still sign up.
    response = await api.execute(SIGN_UP, {"email": emails[0], "password": PASSWORD, "name": "A"})
    assert not response.get("errors"), response


async def test_log_ins_from_one_address_are_rate_limited(api: GraphQLClient) -> None:
    address = an_address()
    variables = {"email": f"{uuid.uuid4().hex[:12]}@example.com", "password": "wrong password"}
    for attempt in range(200):
        response = await post(
            api, LOG_IN, {**variables, "email": f"{attempt}{variables['email']}"}, address
        )
        if codes(response.json()) == ["RATE_LIMITED"]:
            break
        assert codes(response.json()) == ["UNAUTHENTICATED"], response.json()
    else:
        raise AssertionError("200 log-ins from one address were never limited")
    error = response.json()["errors"][0]
    retry_after = error["extensions"]["retryAfter"]
    assert isinstance(retry_after, int) and 1 <= retry_after <= 60
    assert response.headers["retry-after"] == str(retry_after)
    # Another address is not affected.
    other = await post(api, LOG_IN, variables, an_address())
    assert codes(other.json()) == ["UNAUTHENTICATED"]


async def test_sign_ups_from_one_address_are_rate_limited(api: GraphQLClient) -> None:
    address = an_address()
    for _ in range(50):
        email = f"{uuid.uuid4().hex[:12]}@example.com"
        response = await post(
            api, SIGN_UP, {"email": email, "password": PASSWORD, "name": "Mass"}, address
        )
        if codes(response.json()) == ["RATE_LIMITED"]:
            break
    else:
        raise AssertionError("50 sign-ups from one address were never limited")
    assert response.json()["errors"][0]["extensions"]["retryAfter"] >= 1


async def test_wrong_passwords_for_one_account_are_rate_limited(api: GraphQLClient) -> None:
    person = await sign_up(api, "Guessed")
    for attempt in range(60):  # each from another address: only the account's limit applies
        wrong = {"email": person.email, "password": f"guess {attempt}"}
        response = await post(api, LOG_IN, wrong, an_address())
        if codes(response.json()) == ["RATE_LIMITED"]:
            break
        assert codes(response.json()) == ["UNAUTHENTICATED"]
    else:
        raise AssertionError("60 wrong passwords for one account were never limited")
    # The right password no longer helps until the window ends.
    right = await post(api, LOG_IN, {"email": person.email, "password": PASSWORD}, an_address())
    assert codes(right.json()) == ["RATE_LIMITED"]
    assert right.json()["errors"][0]["extensions"]["retryAfter"] >= 1


async def test_refreshes_for_one_account_are_rate_limited(api: GraphQLClient) -> None:
    person = await sign_up(api, "Refresher")
    token = person.refresh_token
    for _ in range(100):
        response = await post(api, REFRESH, {"token": token}, an_address())
        body = response.json()
        if codes(body) == ["RATE_LIMITED"]:
            break
        assert not body.get("errors"), body
        token = body["data"]["refreshToken"]["refreshToken"]
    else:
        raise AssertionError("100 refreshes for one account were never limited")


async def test_a_form_encoded_cross_origin_post_is_refused(api: GraphQLClient) -> None:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    mutation = (
        f'mutation {{ register(email: "{email}", password: "{PASSWORD}", name: "C") '
        "{ accessToken } }"
    )
    response = await api.http.post(
        api.url,
        content=httpx.QueryParams({"query": mutation}).__str__(),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "origin": "https://evil.example",
        },
    )
    assert response.status_code == 403, response.text
    assert codes(response.json()) == ["FORBIDDEN"]
    # Nothing was created: the address is still free.
    body = await api.execute(SIGN_UP, {"email": email, "password": PASSWORD, "name": "C"})
    assert not body.get("errors"), body


async def test_cors_allows_the_configured_origins_only(api: GraphQLClient) -> None:
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
    }
    evil = await api.http.options(api.url, headers={"origin": "https://evil.example", **preflight})
    assert evil.headers.get("access-control-allow-origin") in (None, "null"), evil.headers
    assert "evil.example" not in str(evil.headers)
    app = await api.http.options(api.url, headers={"origin": "http://localhost:3000", **preflight})
    assert app.headers.get("access-control-allow-origin") == "http://localhost:3000"
    assert app.headers.get("access-control-allow-credentials") == "true"


async def test_a_large_body_is_refused_before_it_is_parsed(api: GraphQLClient) -> None:
    padding = "#" + "x" * (20 * 1024 * 1024) + "\n"
    response = await api.http.post(api.url, json={"query": padding + "{ __typename }"})
    assert response.status_code == 413
    assert codes(response.json()) == ["PAYLOAD_TOO_LARGE"]


async def test_subgraphs_limit_depth_and_aliases_themselves(
    environment: StackEnvironment, stack: Stack
) -> None:
    level = "organizedEvents { edges { node { organizer { "
    deep = "{ events { edges { node { organizer { " + level * 4 + "id" + " }" * 20 + " }"
    aliases = "{ " + " ".join(f"a{i}: __typename" for i in range(100)) + " }"
    async with httpx.AsyncClient() as client:
        for query, code in ((deep, "MAX_DEPTH_EXCEEDED"), (aliases, "MAX_ALIASES_EXCEEDED")):
            response = await client.post(environment.config.url("events"), json={"query": query})
            assert codes(response.json()) == [code], response.text
