"""Who may read and write a conversation: participants only, and not across a block."""

from typing import Any

import pytest

from tests.support.chat import (
    CONVERSATION,
    CONVERSATION_EVENTS,
    CREATE_GROUP,
    EDIT,
    MARK_READ,
    MESSAGES,
    SEND,
    START_DIRECT,
    TYPING,
    block_seen_by_messaging,
    chatters,
    conversation,
    direct,
    send,
)
from tests.support.environment import StackEnvironment
from tests.support.graphql import GraphQLClient, subscribe


async def test_a_non_participant_cannot_read_send_mark_subscribe_or_learn_it_exists(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    ann, bob, eve = await chatters(
        api, environment.config.database_url, "Ann Private", "Bob Private", "Eve Outsider"
    )
    conversation_id = await direct(api, ann, bob)
    message = await send(api, ann, conversation_id, "Just between us")
    missing = "00000000-0000-0000-0000-000000000000"
    for target in (conversation_id, missing):  # the same answer for both
        attempts: list[tuple[str, dict[str, Any]]] = [
            (CONVERSATION, {"id": target}),
            (MESSAGES, {"id": target}),
            (SEND, {"id": target, "body": "Hi!"}),
            (MARK_READ, {"id": target, "seq": 1}),
            (TYPING, {"id": target}),
        ]
        for operation, variables in attempts:
            assert await api.error_code(operation, variables, eve.token) == "NOT_FOUND"
        async with subscribe(
            environment.router_ws_url, CONVERSATION_EVENTS, {"id": target}, eve.token
        ) as watch:
            errors = await watch.error()
            assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    assert await api.error_code(EDIT, {"id": message["id"], "body": "x"}, eve.token) == (
        "NOT_FOUND"
    )
    assert await api.error_code(CONVERSATION, {"id": conversation_id}) == "UNAUTHENTICATED"


async def test_a_blocked_direct_conversation_is_read_only_both_ways(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    database_url = environment.config.database_url
    ann, pete = await chatters(api, database_url, "Ann Blocker", "Pete Pest")
    conversation_id = await direct(api, pete, ann)
    await send(api, pete, conversation_id, "Hey, about that job...")
    await block_seen_by_messaging(api, database_url, ann, pete)
    for person in (pete, ann):
        variables = {"id": conversation_id, "body": "Still there?"}
        body = await api.execute(SEND, variables, person.token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert "blocks" in body["errors"][0]["message"]
        assert (await conversation(api, person, conversation_id))["readOnly"] is True
        assert await api.error_code(TYPING, {"id": conversation_id}, person.token) == "FORBIDDEN"
    # The history stays readable; nobody can start a new one either.
    history = await api.data(MESSAGES, {"id": conversation_id}, ann.token)
    assert len(history["conversation"]["messages"]["edges"]) == 1
    for person, other in ((pete, ann), (ann, pete)):
        code = await api.error_code(START_DIRECT, {"userId": other.id}, person.token)
        assert code == "FORBIDDEN"

    await block_seen_by_messaging(api, database_url, ann, pete, lift=True)
    assert (await send(api, pete, conversation_id, "Sorry about before"))["seq"] == 2
    assert (await conversation(api, ann, conversation_id))["readOnly"] is False


@pytest.mark.parametrize("blocked_by_me", [True, False])
async def test_in_a_group_a_blocked_persons_messages_stay_and_are_flagged(
    api: GraphQLClient, environment: StackEnvironment, blocked_by_me: bool
) -> None:
    database_url = environment.config.database_url
    ann, pete, cleo = await chatters(api, database_url, "Ann Group", "Pete Group", "Cleo Group")
    group = await api.data(CREATE_GROUP, {"title": "Team", "userIds": [pete.id, ann.id]},
                           cleo.token)  # fmt: skip
    conversation_id = group["createGroupConversation"]["id"]
    if blocked_by_me:
        await block_seen_by_messaging(api, database_url, ann, pete)
    message = await send(api, pete, conversation_id, "I can still talk here")
    assert message["seq"] == 1
    history = await api.data(
        "query H($id: ID!) { conversation(id: $id) { messages { edges { node { "
        "body authorBlockedByMe } } } } }",
        {"id": conversation_id},
        ann.token,
    )
    nodes = [edge["node"] for edge in history["conversation"]["messages"]["edges"]]
    assert nodes == [{"body": "I can still talk here", "authorBlockedByMe": blocked_by_me}]
