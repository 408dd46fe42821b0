"""Profiles: validation, visibility, and the domain event each change publishes."""

from typing import Any

import pytest

from tests.support.environment import StackEnvironment
from tests.support.graphql import GraphQLClient
from tests.support.streams import events_about
from tests.support.users import sign_up, with_role

UPDATE = """
mutation Update($input: UpdateProfileInput!) {
  updateProfile(input: $input) {
    name profile { headline bio company jobTitle industry seniority skills interests offers seeks
                   location { city country } visibility }
    avatarUrl
  }
}
"""
PROFILE = "query Profile($id: ID!) { user(id: $id) { id name email profile { headline } } }"


async def test_full_profile_round_trip(api: GraphQLClient) -> None:
    person = await sign_up(api)
    profile = {
        "name": "Grace Hopper",
        "headline": "Compiler pioneer",
        "bio": "Rear admiral. Debugged a moth.",
        "company": "US Navy",
        "jobTitle": "Rear Admiral",
        "industry": "Defense",
        "seniority": "EXECUTIVE",
        "location": {"city": "Arlington", "country": "US"},
        "skills": ["COBOL", "Compilers"],
        "interests": ["teaching"],
        "offers": ["mentoring"],
        "seeks": ["co-founder"],
        "avatarUrl": "https://cdn.example.test/grace.png",
        "visibility": "PUBLIC",
    }
    result = (await api.data(UPDATE, {"input": profile}, person.token))["updateProfile"]
    assert result["name"] == "Grace Hopper"
    assert result["avatarUrl"] == "https://cdn.example.test/grace.png"
    assert result["profile"] == {
        "headline": "Compiler pioneer",
        "bio": "Rear admiral. Debugged a moth.",
        "company": "US Navy",
        "jobTitle": "Rear Admiral",
        "industry": "Defense",
        "seniority": "EXECUTIVE",
        "skills": ["cobol", "compilers"],
        "interests": ["teaching"],
        "offers": ["mentoring"],
        "seeks": ["co-founder"],
        "location": {"city": "Arlington", "country": "US"},
        "visibility": "PUBLIC",
    }
    # Only what is sent changes; null clears an optional field.
    cleared = await api.data(UPDATE, {"input": {"bio": None, "skills": []}}, person.token)
    assert cleared["updateProfile"]["profile"]["bio"] is None
    assert cleared["updateProfile"]["profile"]["skills"] == []
    assert cleared["updateProfile"]["profile"]["headline"] == "Compiler pioneer"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"headline": "h" * 141}, "headline"),
        ({"bio": "b" * 2001}, "bio"),
        ({"location": {"country": "XX"}}, "country"),
        ({"location": {"city": "c" * 101}}, "city"),
        ({"skills": [f"skill {n}" for n in range(31)]}, "skills"),
        ({"skills": ["s" * 51]}, "skills"),
        ({"offers": ["   "]}, "offers"),
        ({"avatarUrl": "javascript:alert(1)"}, "avatarUrl"),
        ({"avatarUrl": "https://x.test/" + "a" * 2048}, "avatarUrl"),
        ({"visibility": None}, "visibility"),
    ],
)
async def test_invalid_changes_are_refused_whole(
    api: GraphQLClient, change: dict[str, Any], field: str
) -> None:
    person = await sign_up(api, "Unchanged")
    # A valid change next to the invalid one: neither may be applied.
    body = await api.execute(UPDATE, {"input": {"headline": "new", **change}}, person.token)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert field in error["extensions"]["fields"], error
    me = await api.data("{ me { name profile { headline } } }", token=person.token)
    assert me["me"] == {"name": "Unchanged", "profile": {"headline": None}}


async def test_update_profile_needs_a_token(api: GraphQLClient) -> None:
    assert await api.error_code(UPDATE, {"input": {"headline": "x"}}) == "UNAUTHENTICATED"


async def test_visibility_and_email_privacy(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    owner, member = await sign_up(api, "Owner"), await sign_up(api, "Member")
    admin = await with_role(api, environment.config.database_url, "admin")
    await api.data(UPDATE, {"input": {"headline": "Secret", "visibility": "PRIVATE"}}, owner.token)

    async def seen_by(token: str | None) -> dict[str, Any]:
        return (await api.data(PROFILE, {"id": owner.id}, token))["user"]  # type: ignore[no-any-return]

    assert await seen_by(None) == {"id": owner.id, "name": "Owner", "email": None, "profile": None}
    assert (await seen_by(member.token))["profile"] is None
    assert (await seen_by(owner.token))["profile"] == {"headline": "Secret"}
    assert (await seen_by(admin.token))["email"] == owner.email

    await api.data(UPDATE, {"input": {"visibility": "MEMBERS"}}, owner.token)
    assert (await seen_by(None))["profile"] is None
    assert (await seen_by(member.token))["profile"] == {"headline": "Secret"}
    assert (await seen_by(member.token))["email"] is None

    await api.data(UPDATE, {"input": {"visibility": "PUBLIC"}}, owner.token)
    assert (await seen_by(None))["profile"] == {"headline": "Secret"}


async def test_unknown_and_malformed_ids(api: GraphQLClient) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    assert await api.error_code(PROFILE, {"id": missing}) == "NOT_FOUND"
    assert await api.error_code(PROFILE, {"id": "42"}) == "BAD_USER_INPUT"


async def test_roles_are_granted_by_admins_only(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    grant = """mutation Grant($id: ID!, $role: Role!) {
        setUserRole(userId: $id, role: $role) { id role } }"""
    member = await sign_up(api)
    admin = await with_role(api, environment.config.database_url, "admin")
    as_member = {"id": member.id, "role": "ADMIN"}
    assert await api.error_code(grant, as_member, member.token) == "FORBIDDEN"
    granted = await api.data(grant, {"id": member.id, "role": "ORGANIZER"}, admin.token)
    assert granted["setUserRole"] == {"id": member.id, "role": "ORGANIZER"}
    missing = {"id": "00000000-0000-0000-0000-000000000000", "role": "ORGANIZER"}
    assert await api.error_code(grant, missing, admin.token) == "NOT_FOUND"
    assert await api.error_code(grant, {"id": "x", "role": "ORGANIZER"}, admin.token) == (
        "BAD_USER_INPUT"
    )


async def test_sign_up_and_profile_changes_publish_versioned_domain_events(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    person = await sign_up(api, "Versioned Vera")
    await api.data(UPDATE, {"input": {"headline": "Event sourcing fan"}}, person.token)
    registered, updated = await events_about(
        environment, "users", person.id, 2, "both events in the stream"
    )
    # Messaging needs the address and name for notification emails.
    assert registered[:2] == ("user.registered", "1")
    assert registered[2]["email"] == person.email and registered[2]["name"] == "Versioned Vera"
    # What changed, with its new value, at the next version: not a copy of the profile.
    assert updated == (
        "user.profile_updated",
        "2",
        {"user_id": person.id, "changed": {"headline": "Event sourcing fan"}},
    )
