"""seat changes in one round trip: registration functions

Revision ID: 5e1f0c2a7b93
Revises: b8f2d1e3c4a5
Create Date: 2026-11-26 10:10:00

Every mutation that changes an event's seats (register, cancel a registration,
approve, reject, check in, and the promotion that follows a freed seat or a larger
capacity) is one PL/pgSQL function: it takes the event's row lock, checks, writes the
registration, the counters and the outbox rows, and returns what the resolver needs,
in one round trip. The lock is therefore held only inside PostgreSQL, never across
the network or a busy Python event loop, which is what bounds registrations per
second on a hot event (see docs/architecture.md, "Hot writes").

Each statement in a function takes its snapshot when it starts, so every read that
follows `SELECT … FOR UPDATE` sees what the previous lock holder committed. (A single
data-modifying CTE would not: all of it reads the snapshot taken before waiting.)

A refusal is returned, not raised: `refusal` names the reason, the resolver turns it
into a GraphQL error, and nothing was written.

Versions (the domain event envelope): every UPDATE of a registration or an event bumps
its `version`, as SQLAlchemy's `version_id_col` does for the ORM, and each outbox row
carries the registration's version after the change.
"""

import re
from collections.abc import Sequence

from alembic import op

revision: str = "5e1f0c2a7b93"
down_revision: str | None = "b8f2d1e3c4a5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = r"""
-- What a seat-changing function answers.
CREATE TYPE events.seat_change AS (
    refusal text,                          -- NULL when done; else why nothing changed
    registration events.registrations,     -- the registration as it now is
    waitlist_position integer,             -- for a waitlisted registration, NULL otherwise
    event events.events,                   -- the event as it now is (counts committed with it)
    seats_changed boolean,                 -- whether to announce the event's new counts
    changes jsonb                          -- the registration.* payloads recorded, in order
);

-- Records a registration's domain event in the outbox, with the registration's version
-- after the change; returns its payload.
CREATE FUNCTION events.record_registration_change(
    reg events.registrations, event_type text, change text
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    payload jsonb := jsonb_build_object(
        'registration_id', reg.id::text, 'event_id', reg.event_id::text,
        'user_id', reg.user_id::text, 'status', reg.status, 'change', change);
BEGIN
    INSERT INTO events.outbox (id, type, aggregate_id, version, payload, occurred_at)
    VALUES (gen_random_uuid(), event_type, reg.id::text, reg.version, payload,
            clock_timestamp());
    RETURN payload;
END $$;

-- Gives the event's free seats to the longest-waiting people, oldest first; returns the
-- registration.promoted payloads. The caller holds the event's row lock and adjusts
-- its counts by the number promoted.
CREATE FUNCTION events.promote_waitlisted(ev events.events) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    free integer := CASE WHEN ev.capacity IS NULL THEN ev.waitlist_length
                         ELSE ev.capacity - ev.seats_taken END;
    reg events.registrations;
    promoted jsonb := '[]';
BEGIN
    IF free <= 0 OR ev.waitlist_length = 0 THEN
        RETURN promoted;
    END IF;
    FOR reg IN
        SELECT * FROM events.registrations
        WHERE event_id = ev.id AND status = 'waitlisted'
        ORDER BY waitlist_number LIMIT free FOR UPDATE
    LOOP
        UPDATE events.registrations
        SET status = 'confirmed', confirmed_at = clock_timestamp(),
            updated_at = clock_timestamp(), version = version + 1
        WHERE id = reg.id RETURNING * INTO reg;
        promoted := promoted || events.record_registration_change(
            reg, 'registration.promoted', 'PROMOTED');
    END LOOP;
    RETURN promoted;
END $$;

-- Applies a promotion's effect on the counts.
CREATE FUNCTION events.after_promotion(ev events.events, promoted jsonb)
RETURNS events.events LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    ev.seats_taken := ev.seats_taken + jsonb_array_length(promoted);
    ev.waitlist_length := ev.waitlist_length - jsonb_array_length(promoted);
    RETURN ev;
END $$;

-- Writes the event's counters (and bumps seats_version, which orders live updates).
CREATE FUNCTION events.save_counts(ev events.events) RETURNS events.events
LANGUAGE sql AS $$
    UPDATE events.events
    SET seats_taken = ev.seats_taken, waitlist_length = ev.waitlist_length,
        seats_version = seats_version + 1, version = version + 1, updated_at = now()
    WHERE id = ev.id RETURNING *
$$;

-- 1 for the next person to get a seat, 2 for the one after, … (caller holds the lock).
CREATE FUNCTION events.waitlist_position(reg events.registrations) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN reg.status = 'waitlisted' THEN (
        SELECT count(*)::integer FROM events.registrations
        WHERE event_id = reg.event_id AND status = 'waitlisted'
          AND waitlist_number <= reg.waitlist_number) END
$$;

CREATE FUNCTION events.register_for_event(
    event_id uuid, user_id uuid, is_admin boolean, ticket_code text
) RETURNS events.seat_change LANGUAGE plpgsql AS $$
DECLARE
    ev events.events;
    reg events.registrations;
    result events.seat_change;
    manager boolean;
    new_status text;
    new_waitlist_number bigint;
BEGIN
    SELECT * INTO ev FROM events.events e WHERE e.id = register_for_event.event_id FOR UPDATE;
    IF NOT FOUND THEN
        result.refusal := 'NO_SUCH_EVENT';
        RETURN result;
    END IF;
    result.event := ev;
    -- Registering twice changes nothing.
    SELECT * INTO reg FROM events.registrations r
    WHERE r.event_id = ev.id AND r.user_id = register_for_event.user_id
      AND r.status IN ('pending_approval', 'confirmed', 'waitlisted', 'checked_in');
    IF FOUND THEN
        result.registration := reg;
        result.waitlist_position := events.waitlist_position(reg);
        RETURN result;
    END IF;
    manager := is_admin OR ev.organizer_id = register_for_event.user_id;
    result.refusal := CASE
        WHEN ev.status = 'draft' AND NOT manager THEN 'NO_SUCH_EVENT'
        WHEN ev.status = 'draft' THEN 'EVENT_NOT_PUBLISHED'
        WHEN ev.status = 'cancelled' THEN 'EVENT_CANCELLED'
        WHEN ev.starts_at <= now() THEN 'EVENT_STARTED'
        WHEN now() < ev.registration_opens_at THEN 'REGISTRATION_NOT_OPEN'
        WHEN now() >= ev.registration_closes_at THEN 'REGISTRATION_CLOSED'
    END;
    IF result.refusal IS NOT NULL THEN
        RETURN result;
    END IF;

    IF ev.requires_approval THEN
        new_status := 'pending_approval';
    ELSIF ev.capacity IS NULL OR ev.seats_taken < ev.capacity THEN
        new_status := 'confirmed';
        ev.seats_taken := ev.seats_taken + 1;
    ELSE
        new_status := 'waitlisted';
        new_waitlist_number := nextval('events.waitlist_numbers');
        ev.waitlist_length := ev.waitlist_length + 1;
        -- Under the lock the newcomer is last in line: the position is the new length.
        result.waitlist_position := ev.waitlist_length;
    END IF;
    INSERT INTO events.registrations AS r
        (id, event_id, user_id, status, ticket_code, waitlist_number, confirmed_at)
    VALUES (gen_random_uuid(), ev.id, register_for_event.user_id, new_status,
            register_for_event.ticket_code, new_waitlist_number,
            CASE WHEN new_status = 'confirmed' THEN clock_timestamp() END)
    RETURNING * INTO reg;
    IF new_status <> 'pending_approval' THEN
        result.event := events.save_counts(ev);
        result.seats_changed := true;
    END IF;
    result.registration := reg;
    result.changes := jsonb_build_array(events.record_registration_change(
        reg,
        CASE new_status WHEN 'pending_approval' THEN 'registration.requested'
                        ELSE 'registration.' || new_status END,
        upper(new_status)));
    RETURN result;
END $$;

CREATE FUNCTION events.cancel_registration(event_id uuid, user_id uuid)
RETURNS events.seat_change LANGUAGE plpgsql AS $$
DECLARE
    ev events.events;
    reg events.registrations;
    result events.seat_change;
    changes jsonb := '[]';
BEGIN
    SELECT * INTO ev FROM events.events e WHERE e.id = cancel_registration.event_id FOR UPDATE;
    IF NOT FOUND THEN
        result.refusal := 'NO_SUCH_EVENT';
        RETURN result;
    END IF;
    result.event := ev;
    SELECT * INTO reg FROM events.registrations r
    WHERE r.event_id = ev.id AND r.user_id = cancel_registration.user_id
      AND r.status IN ('pending_approval', 'confirmed', 'waitlisted', 'checked_in')
    FOR UPDATE;
    IF NOT FOUND THEN
        result.refusal := 'NO_REGISTRATION';
        RETURN result;
    END IF;
    result.registration := reg;
    IF reg.status = 'checked_in' THEN
        result.refusal := 'ALREADY_CHECKED_IN';
        RETURN result;
    END IF;
    -- Free what it held (a seat, refilled from the waitlist, or a waitlist place).
    IF reg.status = 'confirmed' THEN
        ev.seats_taken := ev.seats_taken - 1;
        changes := events.promote_waitlisted(ev);
        ev := events.after_promotion(ev, changes);
    ELSIF reg.status = 'waitlisted' THEN
        ev.waitlist_length := ev.waitlist_length - 1;
    END IF;
    result.event := events.save_counts(ev);
    result.seats_changed := true;
    UPDATE events.registrations
    SET status = 'cancelled', cancelled_at = clock_timestamp(),
        updated_at = clock_timestamp(), version = version + 1
    WHERE id = reg.id RETURNING * INTO reg;
    result.registration := reg;
    result.changes := changes || events.record_registration_change(
        reg, 'registration.cancelled', 'CANCELLED');
    RETURN result;
END $$;

-- Approve, reject or check in one registration (given by id, or by ticket code), for
-- the event's organizer or an admin.
CREATE FUNCTION events.decide_registration(
    decision text, registration_id uuid, ticket_code text, viewer_id uuid, is_admin boolean
) RETURNS events.seat_change LANGUAGE plpgsql AS $$
DECLARE
    ev events.events;
    reg events.registrations;
    result events.seat_change;
    changes jsonb := '[]';
    the_registration_id uuid;
    the_event_id uuid;
BEGIN
    -- A registration never moves to another event: its event can be read before the lock.
    SELECT r.id, r.event_id INTO the_registration_id, the_event_id FROM events.registrations r
    WHERE r.id = decide_registration.registration_id
       OR r.ticket_code = decide_registration.ticket_code;
    IF NOT FOUND THEN
        result.refusal := CASE WHEN decide_registration.registration_id IS NULL
                               THEN 'NO_SUCH_TICKET' ELSE 'NO_SUCH_REGISTRATION' END;
        RETURN result;
    END IF;
    SELECT * INTO ev FROM events.events e WHERE e.id = the_event_id FOR UPDATE;
    result.event := ev;
    IF NOT (is_admin OR ev.organizer_id = viewer_id) THEN
        result.refusal := 'NOT_MANAGER';
        RETURN result;
    END IF;
    SELECT * INTO reg FROM events.registrations r WHERE r.id = the_registration_id FOR UPDATE;
    result.registration := reg;

    IF decision = 'approve' THEN
        IF reg.status <> 'pending_approval' THEN
            result.refusal := 'NOT_PENDING';
            RETURN result;
        END IF;
        IF ev.capacity IS NULL OR ev.seats_taken < ev.capacity THEN
            UPDATE events.registrations
            SET status = 'confirmed', confirmed_at = clock_timestamp(),
                updated_at = clock_timestamp(), version = version + 1
            WHERE id = reg.id RETURNING * INTO reg;
            ev.seats_taken := ev.seats_taken + 1;
        ELSE
            UPDATE events.registrations
            SET status = 'waitlisted', waitlist_number = nextval('events.waitlist_numbers'),
                updated_at = clock_timestamp(), version = version + 1
            WHERE id = reg.id RETURNING * INTO reg;
            ev.waitlist_length := ev.waitlist_length + 1;
            result.waitlist_position := ev.waitlist_length;
        END IF;
        result.event := events.save_counts(ev);
        result.seats_changed := true;
        changes := changes || events.record_registration_change(
            reg, 'registration.' || reg.status, 'APPROVED');

    ELSIF decision = 'reject' THEN
        IF reg.status NOT IN ('pending_approval', 'waitlisted') THEN
            result.refusal := 'NOT_REJECTABLE';
            RETURN result;
        END IF;
        IF reg.status = 'waitlisted' THEN
            ev.waitlist_length := ev.waitlist_length - 1;
        END IF;
        result.event := events.save_counts(ev);
        result.seats_changed := true;
        UPDATE events.registrations
        SET status = 'rejected', updated_at = clock_timestamp(), version = version + 1
        WHERE id = reg.id RETURNING * INTO reg;
        changes := changes || events.record_registration_change(
            reg, 'registration.rejected', 'REJECTED');

    ELSIF decision = 'check_in' THEN
        result.refusal := CASE
            WHEN ev.status <> 'published' THEN 'EVENT_NOT_PUBLISHED'
            WHEN reg.status = 'checked_in' THEN 'ALREADY_CHECKED_IN'
            WHEN reg.status <> 'confirmed' THEN 'NOT_CONFIRMED'
        END;
        IF result.refusal IS NOT NULL THEN
            RETURN result;
        END IF;
        UPDATE events.registrations
        SET status = 'checked_in', checked_in_at = clock_timestamp(),
            updated_at = clock_timestamp(), version = version + 1
        WHERE id = reg.id RETURNING * INTO reg;
        changes := changes || events.record_registration_change(
            reg, 'registration.checked_in', 'CHECKED_IN');

    ELSE
        RAISE EXCEPTION 'unknown decision %', decision;
    END IF;
    result.registration := reg;
    result.changes := changes;
    RETURN result;
END $$;

-- After a capacity change (the caller already holds the lock and saved the capacity).
CREATE FUNCTION events.fill_freed_seats(event_id uuid)
RETURNS events.seat_change LANGUAGE plpgsql AS $$
DECLARE
    ev events.events;
    result events.seat_change;
    changes jsonb := '[]';
BEGIN
    SELECT * INTO ev FROM events.events e WHERE e.id = fill_freed_seats.event_id FOR UPDATE;
    changes := events.promote_waitlisted(ev);
    ev := events.after_promotion(ev, changes);
    result.event := events.save_counts(ev);
    result.seats_changed := true;
    result.changes := changes;
    RETURN result;
END $$;
"""

DROP = """
DROP FUNCTION events.fill_freed_seats(uuid);
DROP FUNCTION events.decide_registration(text, uuid, text, uuid, boolean);
DROP FUNCTION events.cancel_registration(uuid, uuid);
DROP FUNCTION events.register_for_event(uuid, uuid, boolean, text);
DROP FUNCTION events.waitlist_position(events.registrations);
DROP FUNCTION events.save_counts(events.events);
DROP FUNCTION events.after_promotion(events.events, jsonb);
DROP FUNCTION events.promote_waitlisted(events.events);
DROP FUNCTION events.record_registration_change(events.registrations, text, text);
DROP TYPE events.seat_change;
"""


def upgrade() -> None:
    # One statement at a time (asyncpg prepares each); each starts at column 0.
    for statement in re.split(r"\n\n(?=--|CREATE)", FUNCTIONS.strip()):
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP.strip().splitlines():
        op.execute(statement)
