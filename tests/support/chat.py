"""Chat operations and people the messaging subgraph already knows, for chat tests."""

import uuid
from typing import Any

import asyncpg

from tests.support.graphql import GraphQLClient
from tests.support.users import Person, sign_up
from tests.support.waiting import eventually

CONVERSATION_FIELDS = """
id kind title lastSeq unreadCount readOnly updatedAt lastReadSeq
participants { id name }
lastMessage { seq body author { id name } }
"""
START_DIRECT = f"""
mutation Start($userId: ID!) {{
  startDirectConversation(userId: $userId) {{ {CONVERSATION_FIELDS} }}
}}
"""
CREATE_GROUP = f"""
mutation Group($title: String!, $userIds: [ID!]!) {{
  createGroupConversation(title: $title, userIds: $userIds) {{ {CONVERSATION_FIELDS} }}
}}
"""
ADD_MEMBERS = """
mutation Add($id: ID!, $userIds: [ID!]!) {
  addConversationMembers(conversationId: $id, userIds: $userIds) { id participants { id } }
}
"""
REMOVE_MEMBER = """
mutation Remove($id: ID!, $userId: ID!) {
  removeConversationMember(conversationId: $id, userId: $userId) { id participants { id } }
}
"""
LEAVE = "mutation Leave($id: ID!) { leaveConversation(conversationId: $id) }"
MESSAGE_FIELDS = """
id seq body deleted editedAt clientMessageId conversationId authorBlockedByMe
author { id name }
"""
SEND = f"""
mutation Send($id: ID!, $body: String!, $clientMessageId: String) {{
  sendMessage(conversationId: $id, body: $body, clientMessageId: $clientMessageId) {{
    {MESSAGE_FIELDS}
  }}
}}
"""
EDIT = f"""
mutation Edit($id: ID!, $body: String!) {{
  editMessage(messageId: $id, body: $body) {{ {MESSAGE_FIELDS} }}
}}
"""
DELETE = f"mutation Delete($id: ID!) {{ deleteMessage(messageId: $id) {{ {MESSAGE_FIELDS} }} }}"
MARK_READ = """
mutation Read($id: ID!, $seq: Int!) {
  markConversationRead(conversationId: $id, upToSeq: $seq) { id unreadCount lastReadSeq }
}
"""
TYPING = "mutation Typing($id: ID!) { setTyping(conversationId: $id) }"
CONVERSATION = f"query One($id: ID!) {{ conversation(id: $id) {{ {CONVERSATION_FIELDS} }} }}"
CONVERSATIONS = f"""
query Mine($first: Int!, $after: String) {{
  conversations(first: $first, after: $after) {{
    edges {{ cursor node {{ {CONVERSATION_FIELDS} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
  unreadMessageCount
}}
"""
MESSAGES = """
query History($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  conversation(id: $id) {
    messages(first: $first, after: $after, last: $last, before: $before) {
      edges { cursor node { seq body deleted readBy { id } author { id } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""
BADGE = "query { unreadMessageCount }"
BLOCK = "mutation Block($id: ID!) { blockUser(userId: $id) { id } }"
UNBLOCK = "mutation Unblock($id: ID!) { unblockUser(userId: $id) { id } }"
CONVERSATION_EVENTS = """
subscription Events($id: ID!) {
  conversationEvents(conversationId: $id) {
    kind conversationId seq readUpToSeq typingExpiresAt
    user { id name }
    message { id seq body deleted editedAt author { id name avatarUrl } }
  }
}
"""
INBOX_EVENTS = """
subscription {
  inboxEvents { kind conversationId seq unreadCount unreadMessageCount conversation { id } }
}
"""


async def _query(database_url: str, statement: str, *args: object) -> Any:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval(statement, *args)
    finally:
        await connection.close()


async def known_to_messaging(database_url: str, people: list[Person]) -> None:
    """Waits until the messaging subgraph's copy of profiles has everyone (it follows
    the users stream, so a sign-up reaches it a moment later)."""
    ids = [uuid.UUID(person.id) for person in people]

    async def all_known() -> bool:
        count = await _query(
            database_url,
            "SELECT count(*) FROM messaging.notification_recipients WHERE user_id = ANY($1)",
            ids,
        )
        return bool(count == len(ids))

    await eventually(all_known, "messaging to know everyone")


async def chatters(api: GraphQLClient, database_url: str, *names: str) -> list[Person]:
    """People signed up and known to messaging, ready to chat."""
    people = [await sign_up(api, name) for name in names]
    await known_to_messaging(database_url, people)
    return people


async def block_seen_by_messaging(
    api: GraphQLClient, database_url: str, blocker: Person, blocked: Person, *, lift: bool = False
) -> None:
    """Blocks (or unblocks) and waits until messaging has applied it."""
    await api.data(UNBLOCK if lift else BLOCK, {"id": blocked.id}, blocker.token)

    async def applied() -> bool:
        state = await _query(
            database_url,
            "SELECT blocked FROM messaging.blocks WHERE blocker_id = $1 AND blocked_id = $2",
            uuid.UUID(blocker.id),
            uuid.UUID(blocked.id),
        )
        return state is (not lift)

    await eventually(applied, "messaging to apply the block")


async def direct(api: GraphQLClient, one: Person, other: Person) -> str:
    data = await api.data(START_DIRECT, {"userId": other.id}, one.token)
    conversation_id: str = data["startDirectConversation"]["id"]
    return conversation_id


async def send(
    api: GraphQLClient,
    person: Person,
    conversation_id: str,
    body: str,
    client_id: str | None = None,
) -> dict[str, Any]:
    data = await api.data(
        SEND, {"id": conversation_id, "body": body, "clientMessageId": client_id}, person.token
    )
    message: dict[str, Any] = data["sendMessage"]
    return message


async def conversation(api: GraphQLClient, person: Person, conversation_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await api.data(CONVERSATION, {"id": conversation_id}, person.token))[
        "conversation"
    ]
    return found
