"""What other parts of the messaging subgraph build on: `notify` batches under a dedupe
key, and a new match (from the matching stream) tells both people."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from shared.db import Database
from shared.eventbus import DomainEvent, stream_name
from shared.pubsub import PubSub
from subgraphs.messaging import mailer
from subgraphs.messaging import notifications as feed
from subgraphs.messaging.tests.support import (
    NOTIFICATION_RECEIVED,
    fetch_value,
    mail_rows,
    notifications_of,
    wait_for_notifications,
)
from tests.support.chat import START_DIRECT
from tests.support.environment import StackEnvironment
from tests.support.graphql import GraphQLClient, subscribe
from tests.support.metrics import sql_statements
from tests.support.users import sign_up
from tests.support.waiting import eventually


@pytest.fixture
async def messaging_db(environment: StackEnvironment) -> AsyncIterator[Database]:
    db = Database(environment.config.database_url, "messaging-test", pool_size=2)
    yield db
    await db.dispose()


@pytest.fixture
async def pubsub(environment: StackEnvironment) -> AsyncIterator[PubSub]:
    pubsub = PubSub(environment.config.redis_url, environment.config.redis_prefix)
    await pubsub.connect()
    yield pubsub
    await pubsub.disconnect()


PAGE = """
query Page($first: Int!) {
  notifications(first: $first, unreadOnly: true) {
    edges { cursor node { id kind title body createdAt readAt target { eventId } } }
    pageInfo { hasNextPage endCursor }
  }
  unreadNotificationCount
}
"""


def new_message(conversation_id: uuid.UUID, text: str) -> feed.NewNotification:
    return feed.NewNotification(
        kind=feed.NotificationKind.NEW_MESSAGE,
        title="New messages from Ada",
        body=text,
        conversation_id=conversation_id,
        dedupe_key=f"conversation:{conversation_id}",
    )


async def test_a_dedupe_key_keeps_one_unread_notification_until_it_is_read(
    api: GraphQLClient, environment: StackEnvironment, messaging_db: Database, pubsub: PubSub
) -> None:
    person = await sign_up(api)
    user_id, conversation_id = uuid.UUID(person.id), uuid.uuid4()
    async with subscribe(
        environment.router_ws_url, NOTIFICATION_RECEIVED, token=person.token
    ) as live:
        await asyncio.sleep(1)  # the router opens its subscription to the subgraph
        for text in ("Hello", "Are you there?"):
            async with messaging_db.transaction() as session:
                await feed.notify(session, pubsub, [user_id], new_message(conversation_id, text))
        first = (await live.next(within=15))["data"]["notificationReceived"]
        second = (await live.next(within=15))["data"]["notificationReceived"]
    assert first["id"] == second["id"]
    assert second["body"] == "Are you there?"
    [batched] = await notifications_of(api, person)
    assert batched["body"] == "Are you there?"
    assert batched["target"]["conversationId"] == str(conversation_id)
    # NEW_MESSAGE is not emailed by default.
    assert await mail_rows(environment.config.database_url, person.id) == []

    async with messaging_db.transaction() as session:
        marked = await feed.mark_read(
            session, user_id, dedupe_key=f"conversation:{conversation_id}"
        )
    assert marked == 1
    async with messaging_db.transaction() as session:
        await feed.notify(session, pubsub, [user_id], new_message(conversation_id, "Hi again"))
    newest, read = await notifications_of(api, person)
    assert (newest["body"], newest["readAt"]) == ("Hi again", None)
    assert read["id"] == batched["id"]
    assert read["readAt"] is not None


async def test_a_new_match_notifies_both_people_and_opens_their_conversation(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    ada, bob = await sign_up(api, "Ada Matched"), await sign_up(api, "Bob Matched")

    async def both_known() -> bool:
        # The names come from the users stream, which has its own pace.
        count = await fetch_value(
            environment.config.database_url,
            "SELECT count(*) FROM messaging.notification_recipients "
            "WHERE user_id = ANY($1::uuid[])",
            [ada.id, bob.id],
        )
        return count == 2

    await eventually(both_known, "messaging to know both people")
    match_id = uuid.uuid4()
    event = DomainEvent(
        id=uuid.uuid4(),
        type="match.created",
        aggregate_id=str(match_id),
        occurred_at=datetime.now(UTC),
        payload={"match_id": str(match_id), "user_ids": [ada.id, bob.id], "event_id": None},
        version=1,
    )
    redis = Redis.from_url(environment.config.redis_url, decode_responses=True)
    try:
        stream = stream_name(environment.config.redis_prefix, "matching")
        await redis.xadd(stream, event.to_stream_fields())  # type: ignore[arg-type]
    finally:
        await redis.aclose()

    [for_ada] = await wait_for_notifications(api, ada, 1, "Ada's match")
    [for_bob] = await wait_for_notifications(api, bob, 1, "Bob's match")
    assert (for_ada["kind"], for_ada["title"]) == ("NEW_MATCH", "New match: Bob Matched")
    assert (for_bob["kind"], for_bob["title"]) == ("NEW_MATCH", "New match: Ada Matched")
    assert for_ada["target"]["matchId"] == for_bob["target"]["matchId"] == str(match_id)
    # And their DIRECT conversation, the one the notification opens.
    conversation_id = for_ada["target"]["conversationId"]
    assert conversation_id and for_bob["target"]["conversationId"] == conversation_id
    started = await api.data(START_DIRECT, {"userId": bob.id}, ada.token)
    assert started["startDirectConversation"]["id"] == conversation_id


async def test_a_page_of_notifications_costs_constant_sql(
    api: GraphQLClient, environment: StackEnvironment, messaging_db: Database, pubsub: PubSub
) -> None:
    person = await sign_up(api)
    for n in range(50):
        async with messaging_db.transaction() as session:
            await feed.notify(
                session,
                pubsub,
                [uuid.UUID(person.id)],
                feed.NewNotification(
                    kind=feed.NotificationKind.EVENT_UPDATED,
                    title=f"Moved {n}",
                    body="New time",
                    event_id=uuid.uuid4(),
                ),
            )

    async def statements_for(first: int) -> float:
        before = await sql_statements(environment.config, "messaging")
        page = await api.data(PAGE, {"first": first}, person.token)
        assert len(page["notifications"]["edges"]) == first
        return await sql_statements(environment.config, "messaging") - before

    assert await statements_for(5) == await statements_for(50)


async def test_a_mail_queued_in_any_process_wakes_the_mailer_at_once(
    environment: StackEnvironment, messaging_db: Database, pubsub: PubSub
) -> None:
    """The mailer runs in messaging's worker; the mail of a notification made elsewhere
    (an api process serving `sendMessage`, here this test) wakes it through Redis,
    rather than waiting for its next poll. A notification that owes no mail does not."""
    app = FastAPI()
    app.state.redis = Redis.from_url(environment.config.redis_url)
    app.state.pubsub = pubsub
    mailer.mail_queued.clear()
    listening = asyncio.create_task(mailer.wake_mailer_on_queued_mail(app))
    try:
        await asyncio.sleep(0.5)  # subscribed
        person = uuid.uuid4()
        async with messaging_db.transaction() as session:
            await feed.notify(session, pubsub, [person], new_message(uuid.uuid4(), "No mail"))
        await asyncio.sleep(0.5)
        assert not mailer.mail_queued.is_set()
        async with messaging_db.transaction() as session:
            await feed.notify(
                session,
                pubsub,
                [person],
                feed.NewNotification(
                    kind=feed.NotificationKind.REGISTRATION_CONFIRMED, title="In", body="Seat"
                ),
            )
        await asyncio.wait_for(mailer.mail_queued.wait(), 2)
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        await app.state.redis.aclose()
