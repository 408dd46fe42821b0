"""Who is never recommended: yourself, blocks either way, private profiles, suspended and
deleted people (likes, passes and matches: test_likes.py). Each one through the router."""

import uuid

from subgraphs.matching.tests.support import (
    LIKE,
    UPDATE_PROFILE,
    bump_version,
    profiled,
    publish_user_event,
    recommended_ids,
    wait_until_recommended,
)
from tests.support.environment import StackEnvironment
from tests.support.graphql import GraphQLClient
from tests.support.users import Person, with_role
from tests.support.waiting import eventually

BLOCK = "mutation Block($id: ID!) { blockUser(userId: $id) { id } }"
UNBLOCK = "mutation Unblock($id: ID!) { unblockUser(userId: $id) { id } }"
SUSPEND = "mutation Suspend($id: ID!) { suspendUser(userId: $id) { id } }"
UNSUSPEND = "mutation Unsuspend($id: ID!) { unsuspendUser(userId: $id) { id } }"
SCORE = "query Score($id: ID!) { user(id: $id) { id matchScore matchReasons { kind text } } }"


async def _pair(api: GraphQLClient) -> tuple[Person, Person]:
    one, two = f"t{uuid.uuid4().hex[:8]}", f"t{uuid.uuid4().hex[:8]}"
    viewer = await profiled(api, "Vera Viewer", seeks=[one], offers=[two])
    other = await profiled(api, "Otto Other", seeks=[two], offers=[one])
    await wait_until_recommended(api, viewer, [other])
    await wait_until_recommended(api, other, [viewer])
    return viewer, other


async def _gone(api: GraphQLClient, viewer: Person, other: Person, what: str) -> None:
    async def left() -> bool:
        return other.id not in await recommended_ids(api, viewer)

    await eventually(left, what, within=5)


async def test_nobody_is_recommended_to_themselves(api: GraphQLClient) -> None:
    viewer, other = await _pair(api)
    for person in (viewer, other):
        assert person.id not in await recommended_ids(api, person)
    mine = (await api.data(SCORE, {"id": viewer.id}, viewer.token))["user"]
    assert mine["matchScore"] is None and mine["matchReasons"] is None
    theirs = (await api.data(SCORE, {"id": other.id}, viewer.token))["user"]
    assert 0 < theirs["matchScore"] <= 1
    assert "OFFERS_WHAT_YOU_SEEK" in {reason["kind"] for reason in theirs["matchReasons"]}
    anonymous = (await api.data(SCORE, {"id": other.id}))["user"]
    assert anonymous["matchScore"] is None


async def test_a_block_either_way_hides_both_people_from_each_other_until_lifted(
    api: GraphQLClient,
) -> None:
    for blocker_is_viewer in (True, False):
        viewer, other = await _pair(api)
        blocker, blocked = (viewer, other) if blocker_is_viewer else (other, viewer)
        await api.data(BLOCK, {"id": blocked.id}, blocker.token)
        await _gone(api, viewer, other, "the blocked person to leave the list")
        assert viewer.id not in await recommended_ids(api, other)
        assert await api.error_code(LIKE, {"userId": other.id}, viewer.token) == "FORBIDDEN"
        score = (await api.data(SCORE, {"id": other.id}, viewer.token))["user"]
        assert score["matchScore"] is None

        await api.data(UNBLOCK, {"id": blocked.id}, blocker.token)
        await wait_until_recommended(api, viewer, [other], within=5)


async def test_a_private_profile_is_not_recommended(api: GraphQLClient) -> None:
    viewer, other = await _pair(api)
    await api.data(UPDATE_PROFILE, {"input": {"visibility": "PRIVATE"}}, other.token)
    await _gone(api, viewer, other, "the private profile to leave the list")
    assert await api.error_code(LIKE, {"userId": other.id}, viewer.token) == "NOT_FOUND"
    # They still see who is worth meeting for them.
    assert viewer.id in await recommended_ids(api, other)
    await api.data(UPDATE_PROFILE, {"input": {"visibility": "MEMBERS"}}, other.token)
    await wait_until_recommended(api, viewer, [other], within=5)


async def test_suspended_and_deleted_people_are_not_recommended(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    config = environment.config
    viewer, other = await _pair(api)
    payload = {"user_id": other.id}
    version = await bump_version(config.database_url, other.id)
    await publish_user_event(config, "user.suspended", other.id, payload, version)
    await _gone(api, viewer, other, "the suspended person to leave the list")
    assert await api.error_code(LIKE, {"userId": other.id}, viewer.token) == "NOT_FOUND"
    version = await bump_version(config.database_url, other.id)
    await publish_user_event(config, "user.unsuspended", other.id, payload, version)
    await wait_until_recommended(api, viewer, [other], within=5)

    version = await bump_version(config.database_url, other.id)
    await publish_user_event(config, "user.deleted", other.id, payload, version)
    await _gone(api, viewer, other, "the deleted person to leave the list")


async def test_a_person_suspended_by_an_admin_leaves_recommendations_until_reinstated(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    admin = await with_role(api, environment.config.database_url, "admin")
    viewer, other = await _pair(api)
    await api.data(SUSPEND, {"id": other.id}, admin.token)
    await _gone(api, viewer, other, "the suspended person to leave the list")
    await api.data(UNSUSPEND, {"id": other.id}, admin.token)
    await wait_until_recommended(api, viewer, [other], within=5)
