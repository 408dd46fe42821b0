"""What the matching fields do: recommendations, likes and passes, matches, scores."""

import base64
import json
import uuid

import strawberry
from sqlalchemy import delete, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert

from shared.errors import BadUserInput, ClientError, Forbidden, NotFound
from shared.pagination import Connection, cursor_values, encode_cursor
from shared.validation import check_page_size, parse_id
from subgraphs.matching import permissions, scoring
from subgraphs.matching.context import PROFILE_COLUMNS, Context, profile_of
from subgraphs.matching.live import announce_match
from subgraphs.matching.models import OVERALL, MatchRow, PassRow, outbox
from subgraphs.matching.types import EventNetworking, LikeResult, Match, Recommendation

# A viewer's list: overall, or within one event (the event's own list when the viewer
# attends it, else the overall list narrowed to its attendees), exclusions applied now.
RECOMMENDATIONS = f"""
    SELECT r.rank_score, {PROFILE_COLUMNS}
    FROM matching.recommendations r
    JOIN matching.people p ON p.user_id = r.candidate_id
    WHERE r.user_id = :viewer
      AND r.context_id = CASE
            WHEN CAST(:event AS uuid) IS NULL THEN CAST(:overall AS uuid)
            WHEN EXISTS (SELECT 1 FROM matching.registrations mine
                         WHERE mine.user_id = :viewer AND mine.event_id = :event
                           AND mine.status IN ('confirmed', 'checked_in'))
              THEN CAST(:event AS uuid)
            ELSE CAST(:overall AS uuid) END
      AND (CAST(:event AS uuid) IS NULL OR EXISTS (
            SELECT 1 FROM matching.registrations theirs
            WHERE theirs.user_id = r.candidate_id AND theirs.event_id = :event
              AND theirs.status IN ('confirmed', 'checked_in')))
      AND {permissions.CAN_RECOMMEND}
      AND (CAST(:after_rank AS float8) IS NULL
           OR (r.rank_score, r.candidate_id) < (:after_rank, CAST(:after_id AS uuid)))
    ORDER BY r.rank_score DESC, r.candidate_id DESC
    LIMIT :limit
"""
# Counted at most once per window, so that reloading a page does not sink anyone.
IMPRESSIONS = text("""
    INSERT INTO matching.impressions AS i (user_id, candidate_id, shown, last_shown_at)
    SELECT :viewer, candidate, 1, now() FROM unnest(CAST(:candidates AS uuid[])) AS candidate
    ON CONFLICT (user_id, candidate_id) DO UPDATE
    SET shown = i.shown + 1, last_shown_at = now()
    WHERE i.last_shown_at < now() - make_interval(secs => :window)
""")


def _recommendation_cursor(rank_score: float, candidate_id: uuid.UUID) -> str:
    return encode_cursor(repr(rank_score), candidate_id)


def _parse_recommendation_cursor(cursor: str) -> tuple[float, uuid.UUID]:
    try:
        rank, candidate = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return float(rank), uuid.UUID(candidate)
    except (ValueError, TypeError):
        raise BadUserInput("after is not a cursor this list gave out", field="after") from None


async def recommendations(
    context: Context, *, event_id: strawberry.ID | None, first: int, after_cursor: str | None
) -> Connection[Recommendation]:
    viewer = await context.require_principal()
    check_page_size(first)
    event = None if event_id is None else parse_id(event_id, "eventId")
    after_rank, after_id = (
        _parse_recommendation_cursor(after_cursor) if after_cursor else (None, None)
    )
    me = await context.profile(viewer.user_id)
    if me is None:
        return Connection.of([], False)
    params = {
        "viewer": viewer.user_id, "event": event, "overall": OVERALL, "limit": first + 1,
        "after_rank": after_rank, "after_id": after_id,
    }  # fmt: skip
    async with context.db.transaction() as session:
        rows = (await session.execute(text(RECOMMENDATIONS), params)).all()
        more = len(rows) > first
        rows = rows[:first]
        if rows:
            await session.execute(
                IMPRESSIONS,
                {"viewer": viewer.user_id, "candidates": [row.user_id for row in rows],
                 "window": scoring.IMPRESSION_WINDOW_SECONDS},
            )  # fmt: skip
    for row in rows:
        context.profile_row.prime(row.user_id, row)
    mine = await context.attending.load(viewer.user_id)
    events = await context.attending.load_many([row.user_id for row in rows])
    nodes = []
    for row, theirs in zip(rows, events, strict=True):
        shared = {e: title for e, title in mine.items() if e in theirs}
        explanation = scoring.explain(me, profile_of(row, theirs), shared)
        nodes.append(
            (_recommendation_cursor(row.rank_score, row.user_id),
             Recommendation.of(row.user_id, explanation))
        )  # fmt: skip
    return Connection.of(nodes, more)


async def explain_for_viewer(
    context: Context, user_id: strawberry.ID
) -> scoring.Explanation | None:
    """The viewer's match with someone, None when anonymous, themselves or not visible."""
    viewer = await context.principal()
    if viewer is None:
        return None
    try:
        other_id = uuid.UUID(str(user_id))
    except ValueError:
        return None
    if other_id == viewer.user_id:
        return None
    row = await context.visible_profile(viewer.user_id).load(other_id)
    me = await context.profile(viewer.user_id)
    if row is None or me is None:
        return None
    mine, theirs = await context.attending.load_many([viewer.user_id, other_id])
    shared = {e: title for e, title in mine.items() if e in theirs}
    return scoring.explain(me, profile_of(row, theirs), shared)


# Likes, passes, matches ------------------------------------------------------------------


def _like_refused(outcome: str) -> ClientError | None:
    """The error for a refusal `matching.like_person` returned (None: not refused)."""
    if outcome == "NO_SUCH_USER":
        return NotFound("No such user")
    if outcome == "BLOCKED":
        return Forbidden("You cannot like this person", reason="BLOCKED")
    return None


def _other_person(context_viewer: uuid.UUID, user_id: strawberry.ID) -> uuid.UUID:
    other = parse_id(user_id, "userId")
    if other == context_viewer:
        raise BadUserInput("You cannot do this to yourself", field="userId")
    return other


async def like(
    context: Context, *, user_id: strawberry.ID, event_id: strawberry.ID | None
) -> LikeResult:
    viewer = await context.require_principal()
    target = _other_person(viewer.user_id, user_id)
    event = None if event_id is None else parse_id(event_id, "eventId")
    result = await context.db.call("matching.like_person", viewer.user_id, target, event)
    refused = _like_refused(result["outcome"])
    if refused is not None:
        raise refused
    if result["outcome"] == "LIKED":
        return LikeResult(matched=False, match=None)
    first, second = sorted((viewer.user_id, target))
    match = MatchRow(
        id=result["match_id"], user_a=first, user_b=second,
        event_id=result["match_event_id"], created_at=result["matched_at"],
    )  # fmt: skip
    if result["new_match"]:
        outbox.wakeup.set()
        await announce_match(context.pubsub, match)
    return LikeResult(matched=True, match=Match.of(match))


async def pass_person(context: Context, *, user_id: strawberry.ID) -> bool:
    viewer = await context.require_principal()
    target = _other_person(viewer.user_id, user_id)
    async with context.db.transaction() as session:
        known = await session.scalar(
            text("SELECT 1 FROM matching.people WHERE user_id = :id"), {"id": target}
        )
        if not known:
            raise NotFound("No such user")
        await session.execute(
            insert(PassRow)
            .values(user_id=viewer.user_id, target_id=target)
            .on_conflict_do_nothing()
        )
    return True


async def undo_pass(context: Context, *, user_id: strawberry.ID) -> bool:
    viewer = await context.require_principal()
    target = _other_person(viewer.user_id, user_id)
    async with context.db.transaction() as session:
        undone = await session.execute(
            delete(PassRow)
            .where(PassRow.user_id == viewer.user_id, PassRow.target_id == target)
            .returning(PassRow.target_id)
        )
        return undone.first() is not None


MATCH_ORDER = [MatchRow.created_at, MatchRow.id]


async def matches(context: Context, *, first: int, after_cursor: str | None) -> Connection[Match]:
    viewer = await context.require_principal()
    check_page_size(first)
    query = select(MatchRow).where(
        (MatchRow.user_a == viewer.user_id) | (MatchRow.user_b == viewer.user_id)
    )
    if after_cursor:
        # Newest first: strictly before the cursor's position.
        values = cursor_values(MATCH_ORDER, after_cursor)
        query = query.where(tuple_(*MATCH_ORDER) < tuple_(*values))
    async with context.db.transaction() as session:
        rows = list(
            await session.scalars(
                query.order_by(MatchRow.created_at.desc(), MatchRow.id.desc()).limit(first + 1)
            )
        )
    return Connection.of([(Match.cursor(row), Match.of(row)) for row in rows[:first]],
                         len(rows) > first)  # fmt: skip


async def event_networking(context: Context, event_id: strawberry.ID) -> EventNetworking | None:
    viewer = await context.require_principal()
    event = parse_id(event_id, "eventId")
    async with context.db.transaction() as session:
        row = (
            await session.execute(
                text("""
                SELECT e.organizer_id,
                  (SELECT count(*) FROM matching.registrations r WHERE r.event_id = e.event_id
                     AND r.status IN ('confirmed', 'checked_in')) AS attendees,
                  (SELECT count(DISTINCT r.user_id) FROM matching.registrations r
                     JOIN matching.recommendations c ON c.user_id = r.user_id
                      AND c.context_id = e.event_id
                   WHERE r.event_id = e.event_id AND r.status IN ('confirmed', 'checked_in'))
                     AS with_recommendations,
                  (SELECT count(*) FROM matching.likes l WHERE l.event_id = e.event_id) AS likes,
                  (SELECT count(*) FROM matching.matches m WHERE m.event_id = e.event_id)
                     AS matches
                FROM matching.known_events e WHERE e.event_id = :event
                """),
                {"event": event},
            )
        ).first()
    if row is None:
        if viewer.is_admin:
            return EventNetworking(
                attendees=0, attendees_with_recommendations=0, likes=0, mutual_matches=0
            )
        return None
    if not permissions.can_see_networking(viewer, row.organizer_id):
        return None
    return EventNetworking(
        attendees=row.attendees, attendees_with_recommendations=row.with_recommendations,
        likes=row.likes, mutual_matches=row.matches,
    )  # fmt: skip
