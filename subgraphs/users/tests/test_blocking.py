"""Blocking: blockUser / unblockUser, me.blockedUsers, and the events other subgraphs follow."""

from tests.support.environment import StackEnvironment
from tests.support.graphql import GraphQLClient
from tests.support.streams import events_about
from tests.support.users import sign_up

BLOCK = "mutation Block($id: ID!) { blockUser(userId: $id) { id name } }"
UNBLOCK = "mutation Unblock($id: ID!) { unblockUser(userId: $id) { id name } }"
MY_BLOCKS = "query { me { blockedUsers { id name } } }"
THEIR_BLOCKS = "query Theirs($id: ID!) { user(id: $id) { id blockedUsers { id } } }"


async def _blocked_by(api: GraphQLClient, token: str) -> list[dict[str, str]]:
    blocked: list[dict[str, str]] = (await api.data(MY_BLOCKS, token=token))["me"]["blockedUsers"]
    return blocked


async def test_blocking_lists_the_person_and_unblocking_lifts_it(api: GraphQLClient) -> None:
    blocker = await sign_up(api, "Blocking Bea")
    pest, other = await sign_up(api, "Pushy Pete"), await sign_up(api, "Other Olga")
    blocked = await api.data(BLOCK, {"id": pest.id}, blocker.token)
    assert blocked["blockUser"] == {"id": pest.id, "name": "Pushy Pete"}
    await api.data(BLOCK, {"id": pest.id}, blocker.token)  # twice: no change
    await api.data(BLOCK, {"id": other.id}, blocker.token)
    assert await _blocked_by(api, blocker.token) == [
        {"id": other.id, "name": "Other Olga"},
        {"id": pest.id, "name": "Pushy Pete"},
    ]
    # Nobody else learns whom Bea blocks, not even the people blocked.
    for viewer in (pest.token, other.token, None):
        theirs = await api.data(THEIR_BLOCKS, {"id": blocker.id}, viewer)
        assert theirs["user"] == {"id": blocker.id, "blockedUsers": None}
    assert await _blocked_by(api, pest.token) == []

    await api.data(UNBLOCK, {"id": pest.id}, blocker.token)
    await api.data(UNBLOCK, {"id": pest.id}, blocker.token)  # twice: no change
    assert await _blocked_by(api, blocker.token) == [{"id": other.id, "name": "Other Olga"}]


async def test_blocking_refuses_bad_targets(api: GraphQLClient) -> None:
    person = await sign_up(api, "Careful Cleo")
    assert await api.error_code(BLOCK, {"id": person.id}, person.token) == "BAD_USER_INPUT"
    unknown = {"id": "00000000-0000-0000-0000-000000000000"}
    assert await api.error_code(BLOCK, unknown, person.token) == "NOT_FOUND"
    assert await api.error_code(UNBLOCK, unknown, person.token) == "NOT_FOUND"
    assert await api.error_code(BLOCK, {"id": "nope"}, person.token) == "BAD_USER_INPUT"
    assert await api.error_code(BLOCK, {"id": person.id}) == "UNAUTHENTICATED"
    assert await api.error_code(UNBLOCK, {"id": person.id}) == "UNAUTHENTICATED"


async def test_block_and_unblock_publish_versioned_events_once(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    blocker, blocked = await sign_up(api, "Event Eve"), await sign_up(api, "Blocked Bob")
    for mutation in (BLOCK, BLOCK, UNBLOCK, UNBLOCK, BLOCK):
        await api.data(mutation, {"id": blocked.id}, blocker.token)
    registered, *events = await events_about(
        environment, "users", blocker.id, 4, "the block events in the stream"
    )
    assert registered[0] == "user.registered"
    pair = {"blocker_id": blocker.id, "blocked_id": blocked.id}
    # Only real changes publish, each at the blocker's next version (sign-up was 1).
    assert [(kind, version) for kind, version, _ in events] == [
        ("user.blocked", "2"),
        ("user.unblocked", "3"),
        ("user.blocked", "4"),
    ]
    assert all({k: v for k, v in payload.items() if not k.startswith("_")} == pair
               for _, _, payload in events)  # fmt: skip
