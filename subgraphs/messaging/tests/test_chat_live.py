"""Live chat through the router (graphql-transport-ws), across two messaging processes."""

import asyncio
import dataclasses
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import httpx

from subgraphs.messaging.tests.support import notifications_of, wait_for_notifications
from tests.support.chat import (
    ADD_MEMBERS,
    CONVERSATION_EVENTS,
    CREATE_GROUP,
    DELETE,
    EDIT,
    INBOX_EVENTS,
    MARK_READ,
    REMOVE_MEMBER,
    SEND,
    TYPING,
    chatters,
    direct,
    send,
)
from tests.support.environment import StackEnvironment
from tests.support.graphql import GraphQLClient, Subscription, subscribe
from tests.support.metrics import sql_statements
from tools.stack import Stack, free_port


async def _settle(watch: Subscription) -> None:
    """The router opens the subgraph's subscription a moment after the client's."""
    await asyncio.sleep(0.5)


async def test_messages_typing_reads_edits_and_deletes_arrive_live(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    ann, bob = await chatters(api, environment.config.database_url, "Ann Live", "Bob Live")
    conversation_id = await direct(api, ann, bob)
    async with subscribe(
        environment.router_ws_url, CONVERSATION_EVENTS, {"id": conversation_id}, ann.token
    ) as watch:
        await _settle(watch)
        sent = await send(api, bob, conversation_id, "Live hello")
        event = (await watch.next())["data"]["conversationEvents"]
        assert event["kind"] == "MESSAGE_SENT" and event["seq"] == 1
        assert event["message"]["body"] == "Live hello"
        assert event["message"]["author"] == {"id": bob.id, "name": "Bob Live", "avatarUrl": None}

        await api.data(TYPING, {"id": conversation_id}, bob.token)
        typing = (await watch.next())["data"]["conversationEvents"]
        assert typing["kind"] == "TYPING" and typing["user"] == {"id": bob.id, "name": "Bob Live"}
        expires = datetime.fromisoformat(typing["typingExpiresAt"])
        assert 5 <= (expires - datetime.now(UTC)).total_seconds() <= 6.5

        await api.data(EDIT, {"id": sent["id"], "body": "Live hello!"}, bob.token)
        edited = (await watch.next())["data"]["conversationEvents"]
        assert edited["kind"] == "MESSAGE_EDITED" and edited["message"]["body"] == "Live hello!"
        assert edited["message"]["editedAt"]

        await api.data(MARK_READ, {"id": conversation_id, "seq": 1}, ann.token)
        read = (await watch.next())["data"]["conversationEvents"]
        assert read["kind"] == "READ" and read["readUpToSeq"] == 1
        assert read["user"] == {"id": ann.id, "name": "Ann Live"}

        await api.data(DELETE, {"id": sent["id"]}, bob.token)
        deleted = (await watch.next())["data"]["conversationEvents"]
        assert deleted["kind"] == "MESSAGE_DELETED"
        assert deleted["message"]["deleted"] is True and deleted["message"]["body"] is None


async def test_a_subscriber_on_one_process_receives_what_was_sent_through_another(
    api: GraphQLClient, environment: StackEnvironment, stack: Stack
) -> None:
    ann, bob = await chatters(api, environment.config.database_url, "Ann Far", "Bob Far")
    conversation_id = await direct(api, ann, bob)
    replica_port = free_port()
    replica = Stack(dataclasses.replace(environment.config, log_dir=environment.config.log_dir))
    replica.start_subgraph("messaging", port=replica_port, replica="-replica", role="api")
    try:
        await asyncio.to_thread(replica.wait_ready)
        async with subscribe(
            environment.router_ws_url, CONVERSATION_EVENTS, {"id": conversation_id}, ann.token
        ) as watch:
            await _settle(watch)
            # Straight to the second process: the router's process learns of it by Redis.
            async with httpx.AsyncClient() as client:
                response = await client.post(
                    f"http://127.0.0.1:{replica_port}/graphql",
                    json={"query": SEND, "variables": {"id": conversation_id, "body": "Far"}},
                    headers={"authorization": f"Bearer {bob.token}"},
                )
            assert response.json()["data"]["sendMessage"]["seq"] == 1
            event = (await watch.next())["data"]["conversationEvents"]
            assert event["message"]["body"] == "Far"
            assert event["message"]["author"]["name"] == "Bob Far"
    finally:
        await asyncio.to_thread(replica.stop)


async def test_the_inbox_follows_new_messages_reads_and_membership(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    owner, ann = await chatters(api, environment.config.database_url, "Owner Inbox", "Ann Inbox")
    async with subscribe(environment.router_ws_url, INBOX_EVENTS, token=ann.token) as inbox:
        await _settle(inbox)
        group = await api.data(CREATE_GROUP, {"title": "Inbox", "userIds": [ann.id]}, owner.token)
        conversation_id = group["createGroupConversation"]["id"]
        added = (await inbox.next())["data"]["inboxEvents"]
        assert added["kind"] == "ADDED" and added["conversation"] == {"id": conversation_id}
        for n in range(3):
            await send(api, owner, conversation_id, f"News {n}")
        counts = [(await inbox.next())["data"]["inboxEvents"] for _ in range(3)]
        assert [c["kind"] for c in counts] == ["MESSAGE"] * 3
        assert counts[-1]["unreadCount"] == 3 and counts[-1]["unreadMessageCount"] == 3
        # Read on another device.
        await api.data(MARK_READ, {"id": conversation_id, "seq": 2}, ann.token)
        read = (await inbox.next())["data"]["inboxEvents"]
        assert read["kind"] == "READ" and read["unreadCount"] == 1
        assert read["unreadMessageCount"] == 1

        async with subscribe(
            environment.router_ws_url, CONVERSATION_EVENTS, {"id": conversation_id}, ann.token
        ) as room:
            await _settle(room)
            variables = {"id": conversation_id, "userId": ann.id}
            await api.data(REMOVE_MEMBER, variables, owner.token)
            removed = (await room.next())["data"]["conversationEvents"]
            assert removed["kind"] == "MEMBER_REMOVED" and removed["user"]["id"] == ann.id
        gone = (await inbox.next())["data"]["inboxEvents"]
        assert gone["kind"] == "REMOVED" and gone["conversation"] is None
        await api.data(ADD_MEMBERS, {"id": conversation_id, "userIds": [ann.id]}, owner.token)
        back = (await inbox.next())["data"]["inboxEvents"]
        assert back["kind"] == "ADDED" and back["conversation"] == {"id": conversation_id}


async def test_many_subscribers_cost_the_users_subgraph_nothing_per_message(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    """The author's name and avatar travel with the message (`@provides`): the router
    does not fetch the author from the users subgraph for each subscriber."""
    owner, *others = await chatters(
        api, environment.config.database_url, "Owner Many", *(f"Reader {n}" for n in range(5))
    )
    group = await api.data(
        CREATE_GROUP, {"title": "Many", "userIds": [p.id for p in others]}, owner.token
    )
    conversation_id = group["createGroupConversation"]["id"]
    async with AsyncExitStack() as stack:
        watches = [
            await stack.enter_async_context(
                subscribe(
                    environment.router_ws_url,
                    CONVERSATION_EVENTS,
                    {"id": conversation_id},
                    person.token,
                )
            )
            for person in others
        ]
        await _settle(watches[0])
        before = await sql_statements(environment.config, "users")
        for n in range(3):
            await send(api, owner, conversation_id, f"To all {n}")
            for watch in watches:
                event = (await watch.next())["data"]["conversationEvents"]
                assert event["message"]["author"]["name"] == "Owner Many"
        assert await sql_statements(environment.config, "users") - before == 0


async def test_a_message_to_someone_not_watching_becomes_one_notification_until_read(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    ann, bob = await chatters(api, environment.config.database_url, "Ann Away", "Bob Here")
    conversation_id = await direct(api, ann, bob)
    async with subscribe(
        environment.router_ws_url, CONVERSATION_EVENTS, {"id": conversation_id}, bob.token
    ) as watch:
        await _settle(watch)
        await send(api, bob, conversation_id, "First")
        await send(api, ann, conversation_id, "Bob is watching: no notification for him")
        last = await send(api, bob, conversation_id, "Second")
        for_ann = await wait_for_notifications(api, ann, 1, "Ann's chat notification")
    # One notification for both messages, brought up to date by the second.
    assert (
        for_ann[0]["kind"] == "NEW_MESSAGE" and for_ann[0]["title"] == "New messages from Bob Here"
    )
    assert for_ann[0]["body"] == "Bob Here: Second"
    assert for_ann[0]["target"]["conversationId"] == conversation_id
    assert await notifications_of(api, bob) == []
    await api.data(MARK_READ, {"id": conversation_id, "seq": last["seq"]}, ann.token)
    assert await notifications_of(api, ann, unread_only=True) == []
    await send(api, bob, conversation_id, "Third")
    newest, _ = await wait_for_notifications(api, ann, 2, "a new notification after reading")
    unread = newest
    assert unread["body"] == "Bob Here: Third" and unread["readAt"] is None
