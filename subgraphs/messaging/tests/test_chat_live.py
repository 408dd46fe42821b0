"""Live chat through the router (graphql-transport-ws), across two messaging processes."""

import asyncio
import dataclasses
from datetime import UTC, datetime

import httpx

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
    replica.start_subgraph("messaging", port=replica_port, replica="-replica")
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
