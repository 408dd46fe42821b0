"""Sign-up, log-in, token refresh and log-out through the router, as the mobile app does them."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import TokenSigner
from tests.support.environment import StackEnvironment
from tests.support.graphql import GraphQLClient
from tests.support.users import LOG_IN, PASSWORD, SIGN_UP, sign_up

ME = "{ me { id name email role profile { headline skills location { city country } } } }"
REFRESH = """
mutation Refresh($token: String!) {
  refreshToken(refreshToken: $token) { accessToken refreshToken }
}
"""
LOG_OUT = "mutation LogOut($token: String!) { logout(refreshToken: $token) }"


def signed_token(environment: StackEnvironment, **overrides: object) -> str:
    """A token signed with the deployment's real key (as if issued by the users subgraph)."""
    key_file = environment.config.jwt_private_key_file
    signer = TokenSigner(key_file, "meetinity-users", "meetinity", 60)
    now = datetime.now(UTC)
    claims = {
        "sub": str(uuid.uuid4()),
        "role": "member",
        "iss": "meetinity-users",
        "aud": "meetinity",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        **overrides,
    }
    key = signer._private_key
    return jwt.encode(claims, key, "RS256", headers={"kid": signer.jwk["kid"]})


def tampered(token: str) -> str:
    """The same token with its role claim raised to admin; the signature no longer matches."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


async def test_sign_up_log_in_update_profile_and_read_me(api: GraphQLClient) -> None:
    email = f"Ada.{uuid.uuid4().hex[:8]}@Example.com"
    registered = (
        await api.data(SIGN_UP, {"email": email, "password": PASSWORD, "name": "  Ada  "})
    )["register"]
    assert registered["user"]["id"]

    logged_in = (await api.data(LOG_IN, {"email": email.upper(), "password": PASSWORD}))["login"]
    token = logged_in["accessToken"]
    assert logged_in["user"] == {"id": registered["user"]["id"], "role": "MEMBER"}

    updated = await api.data(
        """mutation { updateProfile(input: {
            headline: "CTO at Nimbus", skills: ["Python", " python ", "Distributed  Systems"],
            location: {city: "Lyon", country: "fr"}
        }) { name profile { headline skills location { city country } } } }""",
        token=token,
    )
    assert updated["updateProfile"]["profile"] == {
        "headline": "CTO at Nimbus",
        "skills": ["python", "distributed systems"],
        "location": {"city": "Lyon", "country": "FR"},
    }

    me = (await api.data(ME, token=token))["me"]
    assert me["id"] == registered["user"]["id"]
    assert me["name"] == "Ada"
    assert me["email"] == email.lower()
    assert me["role"] == "MEMBER"
    assert me["profile"]["headline"] == "CTO at Nimbus"


async def test_me_needs_a_valid_token(api: GraphQLClient, environment: StackEnvironment) -> None:
    person = await sign_up(api)
    assert await api.error_code(ME) == "UNAUTHENTICATED"
    expired = signed_token(
        environment,
        sub=person.id,
        iat=datetime.now(UTC) - timedelta(hours=2),
        exp=datetime.now(UTC) - timedelta(hours=1),
    )
    assert await api.error_code(ME, token=expired) == "UNAUTHENTICATED"
    assert await api.error_code(ME, token=tampered(person.token)) == "UNAUTHENTICATED"
    assert await api.error_code(ME, token="not-a-jwt") == "UNAUTHENTICATED"
    assert (await api.data(ME, token=person.token))["me"]["id"] == person.id


@pytest.mark.parametrize("target", ["users", "events", "matching", "messaging"])
async def test_subgraphs_verify_tokens_themselves(
    stack: object, environment: StackEnvironment, target: str
) -> None:
    """Straight to each subgraph, past the router: a forged identity gets nowhere."""
    url = environment.config.url(target)
    query = {
        "users": "{ me { id } }",
        "events": 'mutation { registerForEvent(eventId: "00000000-0000-0000-0000-000000000000")'
        " { id } }",
        "matching": "{ recommendations { edges { node { score } } } }",
        "messaging": "{ unreadMessageCount }",
    }[target]
    someone = str(uuid.uuid4())
    foreign_key_token = jwt.encode(
        {"sub": someone, "role": "admin", "iss": "meetinity-users", "aud": "meetinity",
         "exp": datetime.now(UTC) + timedelta(minutes=5)},
        _foreign_private_key(),
        "RS256",
        headers={"kid": "foreign"},
    )  # fmt: skip
    attempts = [
        {"x-user-id": someone, "x-user-role": "admin"},
        {"authorization": f"Bearer {foreign_key_token}"},
        {"authorization": f"Bearer {tampered(signed_token(environment, sub=someone))}"},
    ]
    async with httpx.AsyncClient() as client:
        for headers in attempts:
            response = await client.post(url, json={"query": query}, headers=headers)
            errors = response.json()["errors"]
            assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED", (headers, errors)


def _foreign_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def test_refresh_tokens_rotate_and_reuse_revokes_the_family(api: GraphQLClient) -> None:
    person = await sign_up(api)
    first = person.refresh_token
    second = (await api.data(REFRESH, {"token": first}))["refreshToken"]
    assert second["refreshToken"] != first
    assert (await api.data(ME, token=second["accessToken"]))["me"]["id"] == person.id
    third = (await api.data(REFRESH, {"token": second["refreshToken"]}))["refreshToken"]

    # Someone replays the first token: it fails, and so does every token of that login.
    assert await api.error_code(REFRESH, {"token": first}) == "UNAUTHENTICATED"
    assert await api.error_code(REFRESH, {"token": third["refreshToken"]}) == "UNAUTHENTICATED"


async def test_logout_revokes_the_refresh_token(api: GraphQLClient) -> None:
    person = await sign_up(api)
    other_session = await api.data(LOG_IN, {"email": person.email, "password": PASSWORD})
    assert (await api.data(LOG_OUT, {"token": person.refresh_token}))["logout"] is True
    assert await api.error_code(REFRESH, {"token": person.refresh_token}) == "UNAUTHENTICATED"
    # Logging out of one device leaves the others signed in.
    other_refresh = other_session["login"]["refreshToken"]
    assert (await api.data(REFRESH, {"token": other_refresh}))["refreshToken"]["accessToken"]


async def test_bad_credentials_and_duplicates(api: GraphQLClient) -> None:
    person = await sign_up(api)
    wrong_password = {"email": person.email, "password": "wrong password"}
    assert await api.error_code(LOG_IN, wrong_password) == "UNAUTHENTICATED"
    unknown = {"email": "nobody@example.com", "password": PASSWORD}
    assert await api.error_code(LOG_IN, unknown) == "UNAUTHENTICATED"
    duplicate = {"email": person.email.upper(), "password": PASSWORD, "name": "Again"}
    assert await api.error_code(SIGN_UP, duplicate) == "CONFLICT"
    assert await api.error_code(REFRESH, {"token": "made-up"}) == "UNAUTHENTICATED"
    assert await api.error_code(REFRESH, {"token": "  "}) == "BAD_USER_INPUT"
    assert await api.error_code(LOG_OUT, {"token": ""}) == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    ("email", "password", "name", "field"),
    [
        ("not-an-email", PASSWORD, "Ann", "email"),
        (None, "short", "Ann", "password"),
        (None, "x" * 129, "Ann", "password"),
        (None, PASSWORD, "   ", "name"),
        (None, PASSWORD, "n" * 101, "name"),
    ],
)
async def test_sign_up_validation(
    api: GraphQLClient, email: str | None, password: str, name: str, field: str
) -> None:
    email = email or f"{uuid.uuid4().hex[:12]}@example.com"
    body = await api.execute(SIGN_UP, {"email": email, "password": password, "name": name})
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert field in error["extensions"]["fields"]
    if field != "email":
        # Nothing was half-written: the address is still free.
        await api.data(SIGN_UP, {"email": email, "password": PASSWORD, "name": "Ann"})
