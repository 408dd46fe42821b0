import uuid
from datetime import datetime
from typing import Any

import strawberry
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet

from shared.errors import Forbidden
from shared.pagination import encode_cursor
from subgraphs.matching import scoring
from subgraphs.matching.context import Info
from subgraphs.matching.models import MatchRow


@strawberry.federation.type(keys=[Key(fields=FieldSet("id"))], description="A person")
class User:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> "User":
        return cls(id=id)

    @strawberry.field(
        description="How well you two match, 0 to 1 (null when not signed in, for yourself, "
        "or for someone you cannot see)"
    )
    async def match_score(self, info: Info) -> float | None:
        from subgraphs.matching.resolvers import explain_for_viewer

        explanation = await explain_for_viewer(info.context, self.id)
        return None if explanation is None else round(explanation.score, 4)

    @strawberry.field(description="Why you two would get on (null like matchScore)")
    async def match_reasons(self, info: Info) -> list["Reason"] | None:
        from subgraphs.matching.resolvers import explain_for_viewer

        explanation = await explain_for_viewer(info.context, self.id)
        return None if explanation is None else [Reason.of(r) for r in explanation.reasons]


@strawberry.federation.type(keys=[Key(fields=FieldSet("id"))], description="An event")
class Event:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> "Event":
        return cls(id=id)

    @strawberry.field(description="Organizer and admins: how attendees are meeting")
    async def networking(self, info: Info) -> "EventNetworking | None":
        from subgraphs.matching.resolvers import event_networking

        figures = await event_networking(info.context, self.id)
        if figures is None:
            raise Forbidden("Only the event's organizer and admins see its networking")
        return figures


ReasonKind = strawberry.enum(
    scoring.ReasonKind, name="ReasonKind", description="What a reason is about"
)
ReasonDirection = strawberry.enum(
    scoring.Direction,
    name="ReasonDirection",
    description="THEY_FOR_YOU: what the other person brings you; YOU_FOR_THEM: what you "
    "bring them; MUTUAL: what you share",
)


@strawberry.type(description="Why someone is worth meeting, ready to render")
class Reason:
    kind: ReasonKind  # type: ignore[valid-type]
    direction: ReasonDirection  # type: ignore[valid-type]
    text: str = strawberry.field(description="A sentence for people; tags between *stars*")
    tags: list[str]
    event: Event | None = strawberry.field(description="The shared event (SHARED_EVENT)")

    @classmethod
    def of(cls, reason: scoring.Reason) -> "Reason":
        event = Event(id=strawberry.ID(str(reason.event_ids[0]))) if reason.event_ids else None
        return cls(
            kind=reason.kind, direction=reason.direction, text=reason.text, tags=reason.tags,
            event=event,
        )  # fmt: skip


@strawberry.type(description="The parts of a match score, each in [0, 1] (docs/matching.md)")
class ScoreParts:
    your_interest: float = strawberry.field(description="Your one-way interest in them")
    their_interest: float = strawberry.field(description="Their one-way interest in you")
    offers_to_you: float = strawberry.field(description="What they offer of what you seek")
    offers_to_them: float = strawberry.field(description="What you offer of what they seek")
    topics: float
    industry: float
    seniority: float
    place: float
    events: float

    @classmethod
    def of(cls, explanation: scoring.Explanation) -> "ScoreParts":
        parts = explanation.parts
        return cls(
            your_interest=explanation.viewer_interest,
            their_interest=explanation.their_interest,
            offers_to_you=parts["offers_to_viewer"],
            offers_to_them=parts["offers_to_them"],
            topics=parts["topics"], industry=parts["industry"], seniority=parts["seniority"],
            place=parts["place"], events=parts["events"],
        )  # fmt: skip


@strawberry.type(description="Someone worth meeting, with the reasons why")
class Recommendation:
    user: User
    score: float = strawberry.field(
        description="0 to 1: the harmonic mean of both people's interest in each other"
    )
    reasons: list[Reason] = strawberry.field(description="Most telling first")
    parts: ScoreParts
    shared_events: list[Event] = strawberry.field(description="Upcoming events you both attend")

    @classmethod
    def of(cls, user_id: uuid.UUID, explanation: scoring.Explanation) -> "Recommendation":
        shared = [
            event_id
            for reason in explanation.reasons
            if reason.kind is scoring.ReasonKind.SHARED_EVENT
            for event_id in reason.event_ids
        ]
        return cls(
            user=User(id=strawberry.ID(str(user_id))),
            score=round(explanation.score, 4),
            reasons=[Reason.of(reason) for reason in explanation.reasons],
            parts=ScoreParts.of(explanation),
            shared_events=[Event(id=strawberry.ID(str(event_id))) for event_id in shared],
        )


@strawberry.federation.type(
    keys=[Key(fields=FieldSet("id"), resolvable=False)],
    description="Two people who liked each other",
)
class Match:
    """Reached only through `matches`, `like` and `matchCreated`, which check who asks;
    other subgraphs add fields by its id (messaging: `conversation`)."""

    id: strawberry.ID
    users: list[User]
    created_at: datetime
    event: Event | None = strawberry.field(description="Where they matched, if at an event")

    @classmethod
    def of(cls, row: MatchRow | Any) -> "Match":
        return cls(
            id=strawberry.ID(str(row.id)),
            users=[User(id=strawberry.ID(str(u))) for u in (row.user_a, row.user_b)],
            created_at=row.created_at,
            event=Event(id=strawberry.ID(str(row.event_id))) if row.event_id else None,
        )

    @staticmethod
    def cursor(row: MatchRow | Any) -> str:
        return encode_cursor(row.created_at.isoformat(), row.id)


@strawberry.type
class LikeResult:
    matched: bool = strawberry.field(description="Whether they had liked you too")
    match: Match | None


@strawberry.type(description="How people meet at an event: what its organizer watches")
class EventNetworking:
    attendees: int = strawberry.field(description="Confirmed or checked in")
    attendees_with_recommendations: int
    likes: int = strawberry.field(description="Likes given in the event's context")
    mutual_matches: int
