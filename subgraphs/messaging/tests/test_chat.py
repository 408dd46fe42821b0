"""Conversations and messages through the router: sending, history, read state, edits,
deletes, idempotent retries, groups, limits."""

import asyncio
import uuid
from typing import Any

import asyncpg

from tests.support.chat import (
    ADD_MEMBERS,
    BADGE,
    CONVERSATIONS,
    CREATE_GROUP,
    DELETE,
    EDIT,
    LEAVE,
    MARK_READ,
    MESSAGES,
    REMOVE_MEMBER,
    SEND,
    START_DIRECT,
    chatters,
    conversation,
    direct,
    send,
)
from tests.support.environment import StackEnvironment
from tests.support.graphql import GraphQLClient
from tests.support.metrics import sql_statements


async def test_a_direct_conversation_is_one_per_pair_and_counts_unread_messages(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    ann, bob = await chatters(api, environment.config.database_url, "Ann Direct", "Bob Direct")
    conversation_id = await direct(api, ann, bob)
    assert await direct(api, bob, ann) == conversation_id  # the same one, either way
    first = await send(api, ann, conversation_id, "  Hello Bob!  ")
    assert first["body"] == "Hello Bob!" and first["seq"] == 1
    assert first["author"] == {"id": ann.id, "name": "Ann Direct"}
    await send(api, ann, conversation_id, "Are you coming tonight?")
    for_bob = await conversation(api, bob, conversation_id)
    assert for_bob["kind"] == "DIRECT" and for_bob["unreadCount"] == 2 and for_bob["lastSeq"] == 2
    assert for_bob["lastMessage"]["body"] == "Are you coming tonight?"
    assert {p["name"] for p in for_bob["participants"]} == {"Ann Direct", "Bob Direct"}
    assert (await conversation(api, ann, conversation_id))["unreadCount"] == 0  # her own
    assert (await api.data(BADGE, token=bob.token))["unreadMessageCount"] == 2

    read = await api.data(MARK_READ, {"id": conversation_id, "seq": 1}, bob.token)
    assert read["markConversationRead"]["unreadCount"] == 1
    # Never backwards, never past the end.
    await api.data(MARK_READ, {"id": conversation_id, "seq": 0}, bob.token)
    read = await api.data(MARK_READ, {"id": conversation_id, "seq": 99}, bob.token)
    assert read["markConversationRead"] == {"id": conversation_id, "unreadCount": 0,
                                            "lastReadSeq": 2}  # fmt: skip
    history = await api.data(MESSAGES, {"id": conversation_id}, ann.token)
    read_by = [edge["node"]["readBy"] for edge in history["conversation"]["messages"]["edges"]]
    assert read_by == [[{"id": bob.id}], [{"id": bob.id}]]
    assert (await api.data(BADGE, token=bob.token))["unreadMessageCount"] == 0


async def test_a_retried_send_with_the_same_client_message_id_returns_the_first_message(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    ann, bob = await chatters(api, environment.config.database_url, "Ann Retry", "Bob Retry")
    conversation_id = await direct(api, ann, bob)
    sends = await asyncio.gather(
        *(send(api, ann, conversation_id, "Only once", "client-1") for _ in range(3))
    )
    assert len({message["id"] for message in sends}) == 1
    assert sends[0]["clientMessageId"] == "client-1" and sends[0]["seq"] == 1
    assert (await send(api, ann, conversation_id, "Another", "client-2"))["seq"] == 2
    assert (await conversation(api, bob, conversation_id))["unreadCount"] == 2


async def test_history_pages_both_ways_without_gaps_or_duplicates_while_people_send(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    people = await chatters(api, environment.config.database_url, "P1", "P2", "P3", "P4")
    group = await api.data(
        CREATE_GROUP, {"title": "Busy", "userIds": [p.id for p in people[1:]]}, people[0].token
    )
    conversation_id = group["createGroupConversation"]["id"]

    async def sender(person_index: int) -> None:
        for n in range(10):
            await send(api, people[person_index], conversation_id, f"{person_index}-{n}")

    async def reader_forwards() -> list[int]:
        seen: list[int] = []
        after = None
        while len(seen) < 40:
            page = await api.data(
                MESSAGES, {"id": conversation_id, "first": 7, "after": after}, people[0].token
            )
            messages = page["conversation"]["messages"]
            seen += [edge["node"]["seq"] for edge in messages["edges"]]
            after = messages["pageInfo"]["endCursor"] or after
        return seen

    *_, forwards = await asyncio.gather(*(sender(i) for i in range(4)), reader_forwards())
    assert forwards == list(range(1, 41))
    backwards: list[int] = []
    before = None
    while True:
        page = await api.data(
            MESSAGES, {"id": conversation_id, "last": 9, "before": before}, people[1].token
        )
        messages = page["conversation"]["messages"]
        backwards = [edge["node"]["seq"] for edge in messages["edges"]] + backwards
        if not messages["pageInfo"]["hasPreviousPage"]:
            break
        before = messages["pageInfo"]["startCursor"]
    assert backwards == list(range(1, 41))
    # Each sender's messages are in the order they were sent.
    latest = await api.data(MESSAGES, {"id": conversation_id, "last": 40}, people[0].token)
    bodies = [edge["node"]["body"] for edge in latest["conversation"]["messages"]["edges"]]
    for index in range(4):
        mine = [body for body in bodies if body.startswith(f"{index}-")]
        assert mine == [f"{index}-{n}" for n in range(10)]


async def test_edits_and_deletes_keep_counts_right(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    ann, bob = await chatters(api, environment.config.database_url, "Ann Edit", "Bob Edit")
    conversation_id = await direct(api, ann, bob)
    first = await send(api, ann, conversation_id, "Helo")
    second = await send(api, ann, conversation_id, "Second thought")
    edited = (await api.data(EDIT, {"id": first["id"], "body": "Hello"}, ann.token))["editMessage"]
    assert edited["body"] == "Hello" and edited["editedAt"] and edited["seq"] == 1
    assert (await conversation(api, bob, conversation_id))["unreadCount"] == 2  # edits: same
    assert await api.error_code(EDIT, {"id": first["id"], "body": "Mine"}, bob.token) == (
        "FORBIDDEN"
    )
    assert await api.error_code(DELETE, {"id": first["id"]}, bob.token) == "FORBIDDEN"
    deleted = (await api.data(DELETE, {"id": second["id"]}, ann.token))["deleteMessage"]
    assert deleted["deleted"] is True and deleted["body"] is None and deleted["seq"] == 2
    assert (await conversation(api, bob, conversation_id))["unreadCount"] == 1  # lowered
    assert await api.error_code(EDIT, {"id": second["id"], "body": "Back"}, ann.token) == (
        "FORBIDDEN"
    )
    history = await api.data(MESSAGES, {"id": conversation_id}, bob.token)
    nodes = [edge["node"] for edge in history["conversation"]["messages"]["edges"]]
    assert [(n["seq"], n["body"], n["deleted"]) for n in nodes] == [
        (1, "Hello", False),
        (2, None, True),  # the tombstone stays, without its text
    ]
    # Past the edit window.
    await _age_message(environment.config.database_url, first["id"], minutes=16)
    assert await api.error_code(EDIT, {"id": first["id"], "body": "Late"}, ann.token) == (
        "FORBIDDEN"
    )


async def _age_message(database_url: str, message_id: str, minutes: int) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "UPDATE messaging.messages SET created_at = created_at - make_interval(mins => $1) "
            "WHERE id = $2",
            minutes,
            uuid.UUID(message_id),
        )
    finally:
        await connection.close()


async def test_bad_messages_are_refused(api: GraphQLClient, environment: StackEnvironment) -> None:
    ann, bob = await chatters(api, environment.config.database_url, "Ann Bad", "Bob Bad")
    conversation_id = await direct(api, ann, bob)
    for body in ("   ", "x" * 4001, "bell\x07"):
        variables = {"id": conversation_id, "body": body}
        assert await api.error_code(SEND, variables, ann.token) == "BAD_USER_INPUT"
    assert (await send(api, ann, conversation_id, "two\nlines"))["body"] == "two\nlines"
    assert await api.error_code(START_DIRECT, {"userId": ann.id}, ann.token) == "BAD_USER_INPUT"
    unknown = str(uuid.uuid4())
    assert await api.error_code(START_DIRECT, {"userId": unknown}, ann.token) == "NOT_FOUND"


async def test_groups_are_managed_by_their_creator(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    owner, ann, bob, cleo = await chatters(
        api, environment.config.database_url, "Owner", "Ann G", "Bob G", "Cleo G"
    )
    group = await api.data(
        CREATE_GROUP, {"title": "  Book club ", "userIds": [ann.id, bob.id]}, owner.token
    )
    created = group["createGroupConversation"]
    conversation_id = created["id"]
    assert created["kind"] == "GROUP" and created["title"] == "Book club"
    assert len(created["participants"]) == 3
    add = {"id": conversation_id, "userIds": [cleo.id]}
    assert await api.error_code(ADD_MEMBERS, add, ann.token) == "FORBIDDEN"
    added = await api.data(ADD_MEMBERS, add, owner.token)
    assert cleo.id in {p["id"] for p in added["addConversationMembers"]["participants"]}
    assert (await conversation(api, cleo, conversation_id))["title"] == "Book club"
    remove = {"id": conversation_id, "userId": bob.id}
    assert await api.error_code(REMOVE_MEMBER, remove, ann.token) == "FORBIDDEN"
    await api.data(REMOVE_MEMBER, remove, owner.token)
    assert await api.error_code(MESSAGES, {"id": conversation_id}, bob.token) == "NOT_FOUND"
    assert (await api.data(LEAVE, {"id": conversation_id}, ann.token))["leaveConversation"]
    assert await api.error_code(MESSAGES, {"id": conversation_id}, ann.token) == "NOT_FOUND"
    too_many = {"title": "Crowd", "userIds": [str(uuid.uuid4()) for _ in range(50)]}
    assert await api.error_code(CREATE_GROUP, too_many, owner.token) == "BAD_USER_INPUT"


async def test_sending_too_fast_is_rate_limited_with_a_retry_hint(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    ann, bob = await chatters(api, environment.config.database_url, "Ann Fast", "Bob Fast")
    conversation_id = await direct(api, ann, bob)
    errors: list[dict[str, Any]] = []
    for n in range(25):
        body = await api.execute(SEND, {"id": conversation_id, "body": f"spam {n}"}, ann.token)
        errors += body.get("errors") or []
    assert errors, "25 messages at once went through"
    extensions = errors[0]["extensions"]
    assert extensions["code"] == "RATE_LIMITED"
    assert isinstance(extensions["retryAfter"], int) and 1 <= extensions["retryAfter"] <= 10
    # Others are not held back by Ann's pace.
    await send(api, bob, conversation_id, "Calm down")


async def test_my_conversations_list_latest_first_in_constant_sql(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    database_url = environment.config.database_url
    me, *others = await chatters(api, database_url, "Me List", *(f"Other {n}" for n in range(6)))
    ids = []
    for other in others:
        conversation_id = await direct(api, other, me)
        await send(api, other, conversation_id, f"From {other.name}")
        ids.append(conversation_id)

    async def statements_for(first: int) -> tuple[float, dict[str, Any]]:
        before = await sql_statements(environment.config, "messaging")
        data = await api.data(CONVERSATIONS, {"first": first, "after": None}, me.token)
        return await sql_statements(environment.config, "messaging") - before, data

    one, _ = await statements_for(1)
    fifty, data = await statements_for(50)
    assert one == fifty
    page = data["conversations"]
    assert [edge["node"]["id"] for edge in page["edges"]] == ids[::-1]  # latest first
    assert all(edge["node"]["unreadCount"] == 1 for edge in page["edges"])
    assert data["unreadMessageCount"] == 6
    second = await api.data(
        CONVERSATIONS, {"first": 4, "after": page["edges"][3]["cursor"]}, me.token
    )
    assert [edge["node"]["id"] for edge in second["conversations"]["edges"]] == ids[::-1][4:]
