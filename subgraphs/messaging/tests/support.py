"""Reading notifications and their email, for the notification tests."""

import uuid
from typing import Any

import asyncpg

from tests.support.graphql import GraphQLClient
from tests.support.users import Person
from tests.support.waiting import eventually
from tools.mail_sink import read_mails

NOTIFICATIONS = """
query Notifications($first: Int!, $after: String, $unreadOnly: Boolean!) {
  notifications(first: $first, after: $after, unreadOnly: $unreadOnly) {
    edges { cursor node {
      id kind title body createdAt readAt
      target { eventId conversationId matchId registrationId event { id title } }
    } }
    pageInfo { hasNextPage endCursor }
  }
  unreadNotificationCount
}
"""
MARK_READ = """
mutation Mark($ids: [ID!], $all: Boolean! = false) {
  markNotificationsRead(ids: $ids, all: $all) { marked unreadCount }
}
"""
SET_PREFERENCE = """
mutation Prefer($kind: NotificationKind!, $email: Boolean!) {
  setNotificationPreference(kind: $kind, email: $email) { kind inApp email }
}
"""
PREFERENCES = "query { notificationPreferences { kind inApp email } }"
NOTIFICATION_RECEIVED = """
subscription { notificationReceived { id kind title body target { eventId registrationId } } }
"""


async def notifications_of(
    api: GraphQLClient, person: Person, first: int = 100, unread_only: bool = False
) -> list[dict[str, Any]]:
    """The person's notifications, newest first, as they see them through the router."""
    data = await api.data(
        NOTIFICATIONS, {"first": first, "after": None, "unreadOnly": unread_only}, person.token
    )
    return [edge["node"] for edge in data["notifications"]["edges"]]


async def wait_for_notifications(
    api: GraphQLClient, person: Person, count: int, what: str
) -> list[dict[str, Any]]:
    async def arrived() -> list[dict[str, Any]] | None:
        found = await notifications_of(api, person)
        return found if len(found) >= count else None

    found: list[dict[str, Any]] = await eventually(arrived, what)
    assert len(found) == count, found
    return found


def mails_to(mail_dir: Any, address: str) -> list[Any]:
    return [mail for mail in read_mails(mail_dir) if address in str(mail["To"])]


async def mail_rows(database_url: str, user_id: str) -> list[asyncpg.Record]:
    """The person's queued or sent notification email (the mailer's table)."""
    connection = await asyncpg.connect(database_url)
    try:
        rows: list[asyncpg.Record] = await connection.fetch(
            "SELECT notification_id, sent_at, attempts FROM messaging.outgoing_mail "
            "WHERE user_id = $1",
            uuid.UUID(user_id),
        )
        return rows
    finally:
        await connection.close()


async def fetch_value(database_url: str, query: str, *args: object) -> object:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()
