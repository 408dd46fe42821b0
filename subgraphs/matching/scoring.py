"""How much two people are worth introducing, and why: every weight and every part of the
score lives here (explained for people in docs/matching.md).

One-way interest of A in B, in [0, 1], is a weighted sum of parts, each in [0, 1]:

- offers:    what B offers against what A seeks: |A.seeks ∩ B.offers| / min(|A.seeks|, 3)
             (answering three of someone's needs is full marks), capped at 1;
- topics:    shared skills and interests, min(shared / 4, 1);
- industry:  1 for the same industry;
- seniority: 1 when within one step of each other on the ladder, 0.5 at two steps;
- place:     1 for the same city, 0.5 for the same country only;
- events:    upcoming events both attend, min(shared / 2, 1).

Only `offers` depends on the direction; the others are shared by both. The pair's score
is the harmonic mean of the two one-way interests: someone who would not be interested
back drags the pair down (reciprocal recommenders, e.g. RECON, combine them so).

The functions take numbers or numpy arrays alike, so the full recompute scores millions
of pairs at once with exactly the formula that explains one pair to a person.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
from numpy.typing import NDArray

# Weights of the parts (they sum to 1, so a one-way interest is in [0, 1]).
WEIGHTS: dict[str, float] = {
    "offers": 0.40,
    "topics": 0.20,
    "industry": 0.08,
    "seniority": 0.04,
    "place": 0.10,
    "events": 0.18,
}
OFFERS_FULL_AT = 3  # needs answered for full marks (fewer if the person seeks fewer)
TOPICS_FULL_AT = 4  # shared skills and interests for full marks
EVENTS_FULL_AT = 2  # shared upcoming events for full marks
COUNTRY_ONLY = 0.5  # the place part for the same country in another city

SENIORITY_LADDER = (
    "student", "junior", "mid", "senior", "lead", "manager", "director", "executive", "founder",
)  # fmt: skip

# How many candidates each person keeps, overall and per upcoming event.
TOP_K = 50
TOP_K_PER_EVENT = 20

# Popularity cap: one person in more than this many people's top 10 keeps full score in
# the lists where they rank best; in the others they are demoted by the factor below.
POPULARITY_CAP = 40
POPULARITY_TOP = 10
POPULARITY_DEMOTION = 0.6

# Impression discounting: a recommendation shown more than `IMPRESSIONS_FREE` times
# (counted at most once per `IMPRESSION_WINDOW_SECONDS`) without a like or a pass
# loses this factor of its rank for each further showing.
IMPRESSIONS_FREE = 3
IMPRESSION_DECAY = 0.85
IMPRESSION_WINDOW_SECONDS = 3600

Number = Any  # a float, or a numpy array of them


def ladder_step(seniority: str | None) -> int:
    """The seniority's step on the ladder, -1 when unknown."""
    return SENIORITY_LADDER.index(seniority) if seniority in SENIORITY_LADDER else -1


@dataclass
class PairFeatures:
    """What the score of pairs (A, B) is computed from: counts, numbers or arrays."""

    a_seeks: Number  # |A.seeks|
    b_seeks: Number
    a_answered: Number  # |A.seeks ∩ B.offers|: what B offers that A seeks
    b_answered: Number  # |B.seeks ∩ A.offers|
    shared_topics: Number
    same_industry: Number  # 0 or 1
    seniority_gap: Number  # steps apart; -1 when either is unknown
    same_city: Number
    same_country: Number
    shared_events: Number


def _offers_part(seeks: Number, answered: Number) -> Number:
    return np.minimum(answered / np.maximum(np.minimum(seeks, OFFERS_FULL_AT), 1), 1.0)


def shared_parts(f: PairFeatures) -> dict[str, Number]:
    """The parts both directions share."""
    gap = np.asarray(f.seniority_gap)
    seniority = np.where(gap < 0, 0.0, np.where(gap <= 1, 1.0, np.where(gap == 2, 0.5, 0.0)))
    return {
        "topics": np.minimum(np.asarray(f.shared_topics) / TOPICS_FULL_AT, 1.0),
        "industry": np.asarray(f.same_industry, dtype=float),
        "seniority": seniority,
        "place": np.where(
            np.asarray(f.same_city) > 0,
            1.0,
            np.where(np.asarray(f.same_country) > 0, COUNTRY_ONLY, 0.0),
        ),
        "events": np.minimum(np.asarray(f.shared_events) / EVENTS_FULL_AT, 1.0),
    }


def one_way(offers: Number, shared: dict[str, Number]) -> Number:
    total = WEIGHTS["offers"] * offers
    for name, value in shared.items():
        total = total + WEIGHTS[name] * value
    return total


def harmonic(x: Number, y: Number) -> Number:
    total = x + y
    return np.where(total > 0, 2 * x * y / np.where(total > 0, total, 1.0), 0.0)


def pair_scores(f: PairFeatures) -> tuple[Number, Number, Number]:
    """(score, A's interest in B, B's interest in A) for each pair."""
    shared = shared_parts(f)
    a_in_b = one_way(_offers_part(np.asarray(f.a_seeks), np.asarray(f.a_answered)), shared)
    b_in_a = one_way(_offers_part(np.asarray(f.b_seeks), np.asarray(f.b_answered)), shared)
    return harmonic(a_in_b, b_in_a), a_in_b, b_in_a


def impression_factor(shown: NDArray[np.int64] | int) -> Number:
    return IMPRESSION_DECAY ** np.maximum(np.asarray(shown) - IMPRESSIONS_FREE, 0)


# One pair, explained --------------------------------------------------------------------


@dataclass
class Profile:
    """What scoring reads of a person."""

    user_id: Any
    skills: Sequence[str] = ()
    interests: Sequence[str] = ()
    offers: Sequence[str] = ()
    seeks: Sequence[str] = ()
    industry: str | None = None
    seniority: str | None = None
    city: str | None = None
    country: str | None = None
    event_ids: frozenset[Any] = field(default_factory=frozenset)

    @property
    def topics(self) -> set[str]:
        return set(self.skills) | set(self.interests)


class ReasonKind(Enum):
    OFFERS_WHAT_YOU_SEEK = "offers_what_you_seek"
    SEEKS_WHAT_YOU_OFFER = "seeks_what_you_offer"
    SHARED_TOPICS = "shared_topics"
    SAME_INDUSTRY = "same_industry"
    SENIORITY = "seniority"
    SAME_CITY = "same_city"
    SAME_COUNTRY = "same_country"
    SHARED_EVENT = "shared_event"


class Direction(Enum):
    THEY_FOR_YOU = "they_for_you"  # what the other person brings the viewer
    YOU_FOR_THEM = "you_for_them"  # what the viewer brings the other person
    MUTUAL = "mutual"


@dataclass
class Reason:
    kind: ReasonKind
    direction: Direction
    text: str
    tags: list[str] = field(default_factory=list)
    event_ids: list[Any] = field(default_factory=list)
    weight: float = 0.0  # the part's contribution, to order reasons by


@dataclass
class Explanation:
    score: float
    viewer_interest: float  # the viewer's interest in the other person
    their_interest: float  # theirs in the viewer
    parts: dict[str, float]  # offers_to_viewer, offers_to_them and the shared parts
    reasons: list[Reason]


def _listing(tags: Sequence[str]) -> str:
    shown = [f"*{tag}*" for tag in tags[:3]]
    more = f" and {len(tags) - 3} more" if len(tags) > 3 else ""
    return (", ".join(shown[:-1]) + " and " + shown[-1] if len(shown) > 1 else shown[0]) + more


def features(viewer: Profile, other: Profile) -> PairFeatures:
    a, b = viewer, other
    gap = ladder_step(a.seniority), ladder_step(b.seniority)
    return PairFeatures(
        a_seeks=len(a.seeks),
        b_seeks=len(b.seeks),
        a_answered=len(set(a.seeks) & set(b.offers)),
        b_answered=len(set(b.seeks) & set(a.offers)),
        shared_topics=len(a.topics & b.topics),
        same_industry=int(bool(a.industry) and a.industry == b.industry),
        seniority_gap=-1 if min(gap) < 0 else abs(gap[0] - gap[1]),
        same_city=int(bool(a.city) and a.city == b.city and a.country == b.country),
        same_country=int(bool(a.country) and a.country == b.country),
        shared_events=len(a.event_ids & b.event_ids),
    )


def explain(viewer: Profile, other: Profile, event_titles: dict[Any, str]) -> Explanation:
    """The pair's score, its parts and the reasons, from the viewer's side.

    `event_titles`: the upcoming events both attend (id → title)."""
    f = features(viewer, other)
    score, mine, theirs = pair_scores(f)
    shared = {name: float(value) for name, value in shared_parts(f).items()}
    parts = {
        "offers_to_viewer": float(_offers_part(f.a_seeks, f.a_answered)),
        "offers_to_them": float(_offers_part(f.b_seeks, f.b_answered)),
        **shared,
    }
    reasons: list[Reason] = []
    offered = sorted(set(viewer.seeks) & set(other.offers))
    if offered:
        reasons.append(Reason(
            ReasonKind.OFFERS_WHAT_YOU_SEEK, Direction.THEY_FOR_YOU,
            f"offers {_listing(offered)}, which you seek", offered,
            weight=WEIGHTS["offers"] * parts["offers_to_viewer"],
        ))  # fmt: skip
    sought = sorted(set(other.seeks) & set(viewer.offers))
    if sought:
        reasons.append(Reason(
            ReasonKind.SEEKS_WHAT_YOU_OFFER, Direction.YOU_FOR_THEM,
            f"seeks {_listing(sought)}, which you offer", sought,
            weight=WEIGHTS["offers"] * parts["offers_to_them"],
        ))  # fmt: skip
    for event_id, title in sorted(event_titles.items(), key=lambda item: item[1]):
        reasons.append(Reason(
            ReasonKind.SHARED_EVENT, Direction.MUTUAL, f"both attend *{title}*",
            event_ids=[event_id], weight=WEIGHTS["events"] * shared["events"],
        ))  # fmt: skip
    topics = sorted(viewer.topics & other.topics)
    if topics:
        count = f"{len(topics)} shared interests" if len(topics) > 1 else "a shared interest"
        reasons.append(Reason(
            ReasonKind.SHARED_TOPICS, Direction.MUTUAL, f"{count}: {_listing(topics)}", topics,
            weight=WEIGHTS["topics"] * shared["topics"],
        ))  # fmt: skip
    if f.same_industry:
        reasons.append(Reason(
            ReasonKind.SAME_INDUSTRY, Direction.MUTUAL, f"both work in {viewer.industry}",
            weight=WEIGHTS["industry"],
        ))  # fmt: skip
    if f.same_city:
        reasons.append(Reason(
            ReasonKind.SAME_CITY, Direction.MUTUAL, f"both based in {viewer.city}",
            weight=WEIGHTS["place"],
        ))  # fmt: skip
    elif f.same_country:
        reasons.append(Reason(
            ReasonKind.SAME_COUNTRY, Direction.MUTUAL, "based in the same country",
            weight=WEIGHTS["place"] * COUNTRY_ONLY,
        ))  # fmt: skip
    if shared["seniority"] > 0:
        reasons.append(Reason(
            ReasonKind.SENIORITY, Direction.MUTUAL, "at a similar stage of their career",
            weight=WEIGHTS["seniority"] * shared["seniority"],
        ))  # fmt: skip
    reasons.sort(key=lambda reason: -reason.weight)
    return Explanation(float(score), float(mine), float(theirs), parts, reasons)
