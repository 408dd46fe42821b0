"""Sends the email notifications owe, over SMTP (`aiosmtplib`), from `outgoing_mail`.

A background job, apart from the requests: a notification is in the app the moment
its transaction commits, whatever SMTP does. The mailer takes due mails with
`FOR UPDATE SKIP LOCKED` (replicas share the work, never the same mail), sends them,
and marks each sent in the same transaction, so a mail is sent once per
notification. The one gap is a crash between the server accepting a mail and that
commit: the mail goes again, with the same `Message-ID` (the notification's id), which
mail systems use to drop the copy.

SMTP unreachable: nothing is lost or counted against the mail, the job waits longer
and longer (up to `mail_retry_ceiling_seconds`) and tries again. A mail the server
refuses, or for someone whose address this subgraph does not know yet, is retried
later with its own delay, and given up after `mail_max_attempts`.
"""

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

import aiosmtplib
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.backoff import Backoff
from shared.db import Database
from shared.jobs import heartbeat, woken_within
from shared.logs import describe
from shared.settings import Settings
from subgraphs.messaging.notification_models import NotificationRow, OutgoingMailRow, RecipientRow
from subgraphs.messaging.notifications import MAIL_QUEUED_CHANNEL

log = logging.getLogger(__name__)
# Set when a notification queued an email, in this process or another
# (`wake_mailer_on_queued_mail`).
mail_queued = asyncio.Event()

# Errors that say the server is out of reach rather than that it refused this mail.
UNREACHABLE = (
    aiosmtplib.SMTPConnectError,
    aiosmtplib.SMTPServerDisconnected,
    aiosmtplib.SMTPTimeoutError,
    OSError,
    TimeoutError,
)


class SmtpUnreachable(Exception):
    pass


@dataclass
class DueMail:
    notification_id: uuid.UUID
    attempts: int
    address: str | None
    name: str | None
    subject: str
    body: str


def compose(settings: Settings, mail: DueMail) -> EmailMessage:
    assert mail.address is not None
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = formataddr((mail.name or "", mail.address))
    message["Subject"] = mail.subject
    # The same id however often it is sent: receivers drop a copy after a crash.
    message["Message-ID"] = make_msgid(idstring=str(mail.notification_id), domain="meetinity.dev")
    greeting = f"Hello {mail.name}," if mail.name else "Hello,"
    message.set_content(
        f"{greeting}\n\n{mail.body}\n\n— Meetinity\n\n"
        "You get this email because of your notification preferences; you can change "
        "them in the app.\n"
    )
    return message


def retry_delay(attempts: int) -> timedelta:
    """How long a refused mail waits before its next attempt: 30 s, 1 min, 2 min… up to 1 h."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


class Mailer:
    batch_size = 20

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings

    async def run(self) -> None:
        backoff = Backoff(
            first_seconds=0.5, ceiling_seconds=self._settings.mail_retry_ceiling_seconds
        )
        while True:
            heartbeat()
            try:
                sent = await self.send_due()
                backoff.reset()
            except (SmtpUnreachable, DBAPIError, OSError) as exc:
                log.warning(
                    "notification email not sent, retrying",
                    extra={"fields": {"error": describe(exc), "retry_in_seconds": backoff.delay}},
                )
                heartbeat()  # waiting for SMTP (or PostgreSQL) to come back is not being stuck
                await backoff.sleep()
                continue
            if sent < self.batch_size:
                await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        """Until a mail is queued (or the poll interval passed), then until the burst it
        belongs to is quiet for `mail_gather_seconds`, `mail_gather_max_seconds` at most."""
        if not await woken_within(mail_queued, self._settings.mail_poll_seconds):
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.mail_gather_max_seconds
        while True:
            mail_queued.clear()
            quiet_for = min(self._settings.mail_gather_seconds, deadline - loop.time())
            if quiet_for <= 0 or not await woken_within(mail_queued, quiet_for):
                return

    async def send_due(self) -> int:
        """Sends a batch of due mails; the number handled. Raises `SmtpUnreachable` once
        what was sent before the server went away is marked sent."""
        async with self._db.transaction() as session:
            due = await self._due(session)
            if not due:
                return 0
            unreachable: Exception | None = None
            sent: list[DueMail] = []
            try:
                async with self._smtp() as smtp:
                    for mail in due:
                        try:
                            if await self._send(session, smtp, mail):
                                sent.append(mail)
                        except UNREACHABLE:
                            raise
                        except aiosmtplib.SMTPException as exc:
                            await self._postpone(session, mail, describe(exc))
            except UNREACHABLE as exc:
                unreachable = exc
            # What went before the server went away is marked too, in the same commit.
            await self._mark_sent(session, sent)
        if unreachable is not None:
            raise SmtpUnreachable(describe(unreachable)) from unreachable
        return len(due)

    def _smtp(self) -> aiosmtplib.SMTP:
        settings = self._settings
        return aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            start_tls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )

    async def _due(self, session: AsyncSession) -> list[DueMail]:
        rows = await session.execute(
            select(
                OutgoingMailRow.notification_id,
                OutgoingMailRow.attempts,
                RecipientRow.email,
                RecipientRow.name,
                NotificationRow.title,
                NotificationRow.body,
            )
            .join(NotificationRow, NotificationRow.id == OutgoingMailRow.notification_id)
            .outerjoin(RecipientRow, RecipientRow.user_id == OutgoingMailRow.user_id)
            .where(
                OutgoingMailRow.sent_at.is_(None),
                OutgoingMailRow.next_attempt_at <= func.now(),
                OutgoingMailRow.attempts < self._settings.mail_max_attempts,
            )
            .order_by(OutgoingMailRow.next_attempt_at)
            .limit(self.batch_size)
            .with_for_update(of=OutgoingMailRow, skip_locked=True)
        )
        return [DueMail(*row) for row in rows]

    async def _send(self, session: AsyncSession, smtp: aiosmtplib.SMTP, mail: DueMail) -> bool:
        """Sends the mail; False when it is postponed instead (no address known yet)."""
        if mail.address is None:
            await self._postpone(session, mail, "no email address known for this person yet")
            return False
        await smtp.send_message(compose(self._settings, mail))
        return True

    async def _mark_sent(self, session: AsyncSession, sent: list[DueMail]) -> None:
        """One statement for the whole batch, whatever its size."""
        if not sent:
            return
        await session.execute(
            update(OutgoingMailRow)
            .where(OutgoingMailRow.notification_id.in_([mail.notification_id for mail in sent]))
            .values(sent_at=func.now(), attempts=OutgoingMailRow.attempts + 1, last_error=None)
        )

    async def _postpone(self, session: AsyncSession, mail: DueMail, error: str) -> None:
        attempts = mail.attempts + 1
        log.warning(
            "notification email refused, will retry",
            extra={
                "fields": {
                    "notification_id": str(mail.notification_id),
                    "attempts": attempts,
                    "error": error,
                }
            },
        )
        await session.execute(
            update(OutgoingMailRow)
            .where(OutgoingMailRow.notification_id == mail.notification_id)
            .values(
                attempts=attempts,
                next_attempt_at=func.now() + retry_delay(attempts),
                last_error=error,
            )
        )


async def send_notification_email(app: FastAPI) -> None:
    await Mailer(app.state.background_db, app.state.settings).run()


async def wake_mailer_on_queued_mail(app: FastAPI) -> None:
    """Sets `mail_queued` whenever any process queued an email: an api process serving
    `sendMessage`, or this process's own consumers. The mailer's poll covers a message
    lost while Redis was away."""
    subscription = app.state.redis.pubsub()
    await subscription.subscribe(app.state.pubsub.channel_name(MAIL_QUEUED_CHANNEL))
    try:
        while True:
            heartbeat()
            if await subscription.get_message(ignore_subscribe_messages=True, timeout=1.0):
                mail_queued.set()
    finally:
        await subscription.aclose()
