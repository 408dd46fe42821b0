"""The notification feed through the router: registrations and event changes become
notifications for the people concerned, live and by email for those who want it."""

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from subgraphs.messaging.tests.support import (
    MARK_READ,
    NOTIFICATION_RECEIVED,
    NOTIFICATIONS,
    PREFERENCES,
    SET_PREFERENCE,
    mail_rows,
    mails_to,
    notifications_of,
    wait_for_notifications,
)
from tests.support.environment import StackEnvironment
from tests.support.events import (
    APPROVE,
    CANCEL_EVENT,
    CANCEL_REGISTRATION,
    REJECT,
    UPDATE,
    published_event,
    register,
)
from tests.support.graphql import GraphQLClient, subscribe
from tests.support.users import sign_up, with_role
from tests.support.waiting import eventually


async def test_registration_outcomes_notify_and_email_only_who_opted_in(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    event_id = await published_event(api, organizer, title="Notified Night", capacity=1)
    ada, bob = await sign_up(api, "Ada Notified"), await sign_up(api, "Bob Quiet")
    for kind in ("REGISTRATION_WAITLISTED", "REGISTRATION_PROMOTED"):
        chosen = await api.data(SET_PREFERENCE, {"kind": kind, "email": False}, bob.token)
        assert chosen["setNotificationPreference"] == {"kind": kind, "inApp": True, "email": False}

    await register(api, event_id, ada)  # the one seat
    await register(api, event_id, bob)  # the waitlist
    await api.data(CANCEL_REGISTRATION, {"id": event_id}, ada.token)  # Bob gets the seat

    [confirmed] = await wait_for_notifications(api, ada, 1, "Ada's confirmation")
    assert confirmed["kind"] == "REGISTRATION_CONFIRMED"
    assert confirmed["title"] == "You're in: Notified Night"
    assert confirmed["target"]["event"] == {"id": event_id, "title": "Notified Night"}
    promoted, waitlisted = await wait_for_notifications(api, bob, 2, "Bob's two notifications")
    assert [waitlisted["kind"], promoted["kind"]] == [
        "REGISTRATION_WAITLISTED",
        "REGISTRATION_PROMOTED",
    ]
    assert promoted["readAt"] is None

    async def ada_mailed() -> list[object]:
        return mails_to(environment.mail_dir, ada.email)

    [mail] = await eventually(ada_mailed, "Ada's email")
    assert mail["Subject"] == "You're in: Notified Night"
    assert "Notified Night" in mail.get_content()
    # Bob's notifications were never queued for email, so no mail can ever go to him.
    assert await mail_rows(environment.config.database_url, bob.id) == []
    assert mails_to(environment.mail_dir, bob.email) == []
    preferences = (await api.data(PREFERENCES, token=bob.token))["notificationPreferences"]
    by_kind = {preference["kind"]: preference["email"] for preference in preferences}
    assert by_kind["REGISTRATION_PROMOTED"] is False
    assert by_kind["REGISTRATION_CONFIRMED"] is True
    assert by_kind["NEW_MESSAGE"] is False


async def test_approvals_and_rejections_are_notified(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    event_id = await published_event(api, organizer, title="Curated", requiresApproval=True)
    ada, bob = await sign_up(api), await sign_up(api)
    ada_request, bob_request = (
        await register(api, event_id, ada),
        await register(api, event_id, bob),
    )
    await api.data(APPROVE, {"id": ada_request["id"]}, organizer.token)
    await api.data(REJECT, {"id": bob_request["id"]}, organizer.token)

    [approved] = await wait_for_notifications(api, ada, 1, "the approval")
    assert approved["kind"] == "REGISTRATION_APPROVED"
    assert approved["target"]["registrationId"] == ada_request["id"]
    assert "Your seat is confirmed" in approved["body"]
    [rejected] = await wait_for_notifications(api, bob, 1, "the rejection")
    assert rejected["kind"] == "REGISTRATION_REJECTED"
    assert rejected["target"]["registrationId"] == bob_request["id"]


async def test_moving_or_cancelling_an_event_notifies_everyone_registered(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    event_id = await published_event(api, organizer, title="Moving Night", capacity=1)
    seated, waiting, gone = await sign_up(api), await sign_up(api), await sign_up(api)
    await register(api, event_id, seated)
    await register(api, event_id, waiting)
    await register(api, event_id, gone)
    await api.data(CANCEL_REGISTRATION, {"id": event_id}, gone.token)
    await wait_for_notifications(api, gone, 1, "the waitlisted notification")

    await api.data(
        UPDATE, {"id": event_id, "input": {"description": "Now with pizza"}}, organizer.token
    )
    starts = datetime.fromisoformat(
        (await api.data("query($id: ID!) { event(id: $id) { startsAt } }", {"id": event_id}))[
            "event"
        ]["startsAt"]
    ) + timedelta(days=1)
    moved = {"startsAt": starts.isoformat(), "endsAt": (starts + timedelta(hours=2)).isoformat()}
    await api.data(UPDATE, {"id": event_id, "input": moved}, organizer.token)
    await api.data(CANCEL_EVENT, {"id": event_id}, organizer.token)

    for person in (seated, waiting):
        cancelled, updated, _registered = await wait_for_notifications(
            api, person, 3, "the move and the cancellation"
        )
        assert updated["kind"] == "EVENT_UPDATED"
        assert updated["title"] == "New time: Moving Night"
        assert cancelled["kind"] == "EVENT_CANCELLED"
        assert cancelled["target"]["eventId"] == event_id
    # The description alone changed nothing for anyone; who had left hears nothing more.
    await asyncio.sleep(0.5)
    assert [n["kind"] for n in await notifications_of(api, gone)] == ["REGISTRATION_WAITLISTED"]


async def test_notification_received_live_through_the_router(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    event_id = await published_event(api, organizer, title="Live Night")
    person = await sign_up(api)
    async with subscribe(
        environment.router_ws_url, NOTIFICATION_RECEIVED, token=person.token
    ) as live:
        await asyncio.sleep(0.5)  # the subscription reaches the subgraph
        registration = await register(api, event_id, person)
        received = (await live.next(within=15))["data"]["notificationReceived"]
    assert received["kind"] == "REGISTRATION_CONFIRMED"
    assert received["title"] == "You're in: Live Night"
    assert received["target"] == {"eventId": event_id, "registrationId": registration["id"]}
    [stored] = await notifications_of(api, person)
    assert stored["id"] == received["id"]


async def test_people_read_and_mark_only_their_own_notifications(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    owner, other = await sign_up(api), await sign_up(api)
    for n in range(3):
        await register(api, await published_event(api, organizer, title=f"Paged {n}"), owner)
    newest, middle, oldest = await wait_for_notifications(api, owner, 3, "three notifications")
    assert [n["title"] for n in (newest, middle, oldest)] == [
        "You're in: Paged 2",
        "You're in: Paged 1",
        "You're in: Paged 0",
    ]

    # Pages follow each other without gap or repeat.
    first_page = (
        await api.data(NOTIFICATIONS, {"first": 2, "after": None, "unreadOnly": False}, owner.token)
    )["notifications"]
    assert [edge["node"]["id"] for edge in first_page["edges"]] == [newest["id"], middle["id"]]
    assert first_page["pageInfo"]["hasNextPage"] is True
    rest = (
        await api.data(
            NOTIFICATIONS,
            {"first": 2, "after": first_page["pageInfo"]["endCursor"], "unreadOnly": False},
            owner.token,
        )
    )["notifications"]
    assert [edge["node"]["id"] for edge in rest["edges"]] == [oldest["id"]]
    assert rest["pageInfo"]["hasNextPage"] is False

    # Someone else sees none of them and cannot mark them.
    assert await notifications_of(api, other) == []
    marked = await api.data(MARK_READ, {"ids": [middle["id"]]}, other.token)
    assert marked["markNotificationsRead"] == {"marked": 0, "unreadCount": 0}
    assert len(await notifications_of(api, owner, unread_only=True)) == 3

    marked = await api.data(MARK_READ, {"ids": [middle["id"]]}, owner.token)
    assert marked["markNotificationsRead"] == {"marked": 1, "unreadCount": 2}
    unread = await notifications_of(api, owner, unread_only=True)
    assert [n["id"] for n in unread] == [newest["id"], oldest["id"]]
    marked = await api.data(MARK_READ, {"all": True}, owner.token)
    assert marked["markNotificationsRead"] == {"marked": 2, "unreadCount": 0}
    assert all(n["readAt"] for n in await notifications_of(api, owner))

    variables = {"first": 10, "after": None, "unreadOnly": False}
    assert await api.error_code(NOTIFICATIONS, variables) == "UNAUTHENTICATED"
    assert await api.error_code(MARK_READ, {"all": True}) == "UNAUTHENTICATED"
    async with subscribe(environment.router_ws_url, NOTIFICATION_RECEIVED) as anonymous:
        [error] = await anonymous.error()
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    bad_inputs: list[dict[str, object]] = [
        {},
        {"ids": [middle["id"]], "all": True},
        {"ids": []},
        {"ids": ["nope"]},
    ]
    for bad in bad_inputs:
        assert await api.error_code(MARK_READ, bad, owner.token) == "BAD_USER_INPUT", bad
    bad_page = {"first": 10, "after": "garbage", "unreadOnly": False}
    assert await api.error_code(NOTIFICATIONS, bad_page, owner.token) == "BAD_USER_INPUT"
    too_many = {"first": 1000, "after": None, "unreadOnly": False}
    assert await api.error_code(NOTIFICATIONS, too_many, owner.token) == "BAD_USER_INPUT"


async def test_email_waits_for_smtp_while_the_notification_does_not(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    event_id = await published_event(api, organizer, title="Offline Mail Night")
    person = await sign_up(api)
    environment.stop_mail_sink()
    try:
        await register(api, event_id, person)
        [notification] = await wait_for_notifications(api, person, 1, "the in-app notification")

        async def tried_and_failed() -> bool:
            rows = await mail_rows(environment.config.database_url, person.id)
            return bool(rows) and rows[0]["sent_at"] is None

        await eventually(tried_and_failed, "the mail to wait in the queue")
        await asyncio.sleep(1.5)  # the mailer tries (and fails) meanwhile
        assert mails_to(environment.mail_dir, person.email) == []
    finally:
        environment.start_mail_sink()

    async def mailed() -> list[object]:
        return mails_to(environment.mail_dir, person.email)

    [mail] = await eventually(mailed, "the mail once SMTP is back")
    assert mail["Subject"] == notification["title"]
    [row] = await mail_rows(environment.config.database_url, person.id)
    assert row["notification_id"].hex == notification["id"].replace("-", "")
    await asyncio.sleep(1.5)
    assert len(mails_to(environment.mail_dir, person.email)) == 1


async def test_a_burst_of_registrations_is_emailed_in_one_or_two_smtp_sessions(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    """The mailer, woken by a new mail, gathers those that follow for a moment: a burst
    does not open an SMTP session (and a transaction) per mail."""
    organizer = await with_role(api, environment.config.database_url, "organizer")
    event_id = await published_event(api, organizer, title="Burst Brunch", capacity=20)
    people = [await sign_up(api, f"Burst {n}") for n in range(12)]

    async def addresses_known() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(environment.config.database_url)
        try:
            known: list[asyncpg.Record] = await connection.fetch(
                "SELECT user_id FROM messaging.notification_recipients "
                "WHERE user_id = ANY($1::uuid[]) AND email IS NOT NULL",
                [uuid.UUID(person.id) for person in people],
            )
        finally:
            await connection.close()
        return known if len(known) == len(people) else []

    # Otherwise a confirmation could be held back until the sign-up reaches messaging.
    await eventually(addresses_known, "everyone's address in messaging")
    await asyncio.gather(*(register(api, event_id, person) for person in people))

    async def everyone_mailed() -> list[Any]:
        mails = [mail for person in people for mail in mails_to(environment.mail_dir, person.email)]
        return mails if len(mails) == len(people) else []

    mails = await eventually(everyone_mailed, "a confirmation email to each")
    # The sink stamps each mail with the SMTP client's address and port: one per session.
    sessions = {mail["Received"] for mail in mails}
    assert 1 <= len(sessions) <= 2, sessions
