"""The seat-changing writes: register, cancel, approve, reject, check in.

These are the hot writes. Each is one call of a PostgreSQL function (created by the
migration `5e1f0c2a7b93`) that takes the event's row lock, checks, writes the
registration, the event's counters and the outbox rows, and answers, all in one
round trip: the lock is held only inside the database, so registrations to a popular
event queue on PostgreSQL's speed rather than on Python's. The function refuses by
returning a reason (nothing was written); this module turns it into the GraphQL error.
Once it returns, the change is committed: the live updates go out and the outbox relay
is woken, as `EventWriter` does after an ORM transaction.

docs/architecture.md ("Hot writes") describes the pattern for other hot writes.
"""

import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shared.auth import Principal
from shared.errors import BadUserInput, ClientError, Conflict, Forbidden, NotFound
from subgraphs.events.context import Context
from subgraphs.events.live import announce
from subgraphs.events.models import EventRow, RegistrationRow


@dataclass(frozen=True)
class SeatChange:
    """What a seat-changing function answered."""

    refusal: str | None
    registration: RegistrationRow | None
    waitlist_position: int | None
    event: EventRow | None

    def require_registration(self) -> RegistrationRow:
        assert self.registration is not None, "the function answers the registration it changed"
        return self.registration


Refusals = Mapping[str, Callable[[SeatChange], ClientError]]


def _status(change: SeatChange) -> str:
    return change.require_registration().status


def _opens_at(change: SeatChange) -> str:
    assert change.event is not None and change.event.registration_opens_at is not None
    return change.event.registration_opens_at.isoformat()


def _checked_in_at(change: SeatChange) -> str:
    checked_in_at = change.require_registration().checked_in_at
    assert checked_in_at is not None
    return checked_in_at.isoformat()


def _conflict(message: str, reason: str) -> Callable[[SeatChange], ClientError]:
    return lambda _: Conflict(message, reason=reason)


NOT_MANAGER: Refusals = {
    "NO_SUCH_REGISTRATION": lambda _: NotFound("No such registration"),
    "NO_SUCH_TICKET": lambda _: NotFound("No ticket has this code"),
    "NOT_MANAGER": lambda _: Forbidden("Only the event's organizer or an admin can do this"),
}
REGISTER_REFUSALS: Refusals = {
    "NO_SUCH_EVENT": lambda _: NotFound("No such event"),
    "EVENT_NOT_PUBLISHED": _conflict("This event is not published yet", "EVENT_NOT_PUBLISHED"),
    "EVENT_CANCELLED": _conflict("This event was cancelled", "EVENT_CANCELLED"),
    "EVENT_STARTED": _conflict("This event has already started", "EVENT_STARTED"),
    "REGISTRATION_NOT_OPEN": lambda change: Conflict(
        f"Registrations open at {_opens_at(change)}", reason="REGISTRATION_NOT_OPEN"
    ),
    "REGISTRATION_CLOSED": _conflict("Registrations are closed", "REGISTRATION_CLOSED"),
}
CANCEL_REFUSALS: Refusals = {
    "NO_SUCH_EVENT": lambda _: NotFound("No such event"),
    "NO_REGISTRATION": lambda _: NotFound("You have no registration for this event"),
    "ALREADY_CHECKED_IN": _conflict("You have already checked in", "ALREADY_CHECKED_IN"),
}
APPROVE_REFUSALS: Refusals = {
    **NOT_MANAGER,
    "NOT_PENDING": lambda change: Conflict(
        f"Only pending registrations can be approved (this one is {_status(change)})",
        reason="NOT_PENDING",
    ),
}
REJECT_REFUSALS: Refusals = {
    **NOT_MANAGER,
    "NOT_REJECTABLE": lambda change: Conflict(
        f"Only pending or waitlisted registrations can be rejected (this one is {_status(change)})",
        reason="NOT_REJECTABLE",
    ),
}
CHECK_IN_REFUSALS: Refusals = {
    **NOT_MANAGER,
    "EVENT_NOT_PUBLISHED": _conflict(
        "Check-in is only for published events", "EVENT_NOT_PUBLISHED"
    ),
    "ALREADY_CHECKED_IN": lambda change: Conflict(
        f"Already checked in at {_checked_in_at(change)}", reason="ALREADY_CHECKED_IN"
    ),
    "NOT_CONFIRMED": lambda change: Conflict(
        f"Only confirmed registrations can check in (this one is {_status(change)})",
        reason="NOT_CONFIRMED",
    ),
}


async def _change_seats(
    ctx: Context, refusals: Refusals, function: str, *args: object
) -> RegistrationRow:
    answer = await ctx.db.call(function, *args)
    change = SeatChange(
        refusal=answer["refusal"],
        registration=(
            None if answer["registration"] is None else RegistrationRow(**answer["registration"])
        ),
        waitlist_position=answer["waitlist_position"],
        event=None if answer["event"] is None else EventRow(**answer["event"]),
    )
    if change.refusal is not None:
        raise refusals[change.refusal](change)
    await announce(ctx.pubsub, answer["changes"] or [], change.event, answer["seats_changed"])
    registration = change.require_registration()
    if change.event is not None:
        ctx.event_by_id.prime(change.event.id, change.event)
    if change.waitlist_position is not None:
        ctx.waitlist_position.prime(registration.id, change.waitlist_position)
    return registration


async def register_for_event(
    ctx: Context, *, viewer: Principal, event_id: uuid.UUID
) -> RegistrationRow:
    """A seat if one is free, else the end of the waitlist (or a request awaiting the
    organizer); registering again answers the same registration."""
    return await _change_seats(
        ctx, REGISTER_REFUSALS, "events.register_for_event",
        event_id, viewer.user_id, viewer.is_admin, secrets.token_urlsafe(16),
    )  # fmt: skip


async def cancel_registration(
    ctx: Context, *, viewer: Principal, event_id: uuid.UUID
) -> RegistrationRow:
    """Frees what the registration held; a freed seat goes to the next on the waitlist."""
    return await _change_seats(
        ctx, CANCEL_REFUSALS, "events.cancel_registration", event_id, viewer.user_id
    )


async def _decide(
    ctx: Context,
    refusals: Refusals,
    decision: str,
    viewer: Principal,
    registration_id: uuid.UUID | None,
    ticket_code: str | None = None,
) -> RegistrationRow:
    return await _change_seats(
        ctx, refusals, "events.decide_registration",
        decision, registration_id, ticket_code, viewer.user_id, viewer.is_admin,
    )  # fmt: skip


async def approve_registration(
    ctx: Context, *, viewer: Principal, registration_id: uuid.UUID
) -> RegistrationRow:
    return await _decide(ctx, APPROVE_REFUSALS, "approve", viewer, registration_id)


async def reject_registration(
    ctx: Context, *, viewer: Principal, registration_id: uuid.UUID
) -> RegistrationRow:
    return await _decide(ctx, REJECT_REFUSALS, "reject", viewer, registration_id)


async def check_in(
    ctx: Context,
    *,
    viewer: Principal,
    registration_id: uuid.UUID | None,
    ticket_code: str | None,
) -> RegistrationRow:
    if (registration_id is None) == (ticket_code is None):
        raise BadUserInput("Give either registrationId or ticketCode", field="registrationId")
    return await _decide(ctx, CHECK_IN_REFUSALS, "check_in", viewer, registration_id, ticket_code)
