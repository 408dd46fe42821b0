"""Ranking people for people in bulk: candidate retrieval, then vectorised scoring.

Never all pairs. Candidates of A come from inverted indexes (tag → people, event →
attendees, city → people), each posting list read up to a cap at an offset that depends
on A, so a popular tag lends every person a different handful of its thousands of
holders:

- what A seeks → who offers it, what A offers → who seeks it, and the same for *pairs
  and triples* of tags (someone offering two or three of the things A seeks is rare,
  and exactly who A wants);
- shared skills and interests, co-attendance of upcoming events, same city.

The pairs are then scored all at once with numpy (`scoring.pair_scores`): each person's
tags are bit sets, so a shared-tag count is an AND and a popcount. The same code ranks
the whole population (the full recompute) and one person against their candidates
(incremental re-scoring).
"""

import itertools
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from subgraphs.matching import scoring

# Beyond this many distinct tags, the rarest fold onto the same bits (a rare false
# "shared" tag in the bulk score; reasons are always computed exactly).
MAX_TAG_BITS = 4096

# How much of one posting list a person's candidate retrieval reads.
POSTING_CAP = {
    "offers": 6, "seeks": 6, "topics": 3, "events": 12, "city": 5,
    "offer_pairs": 10, "seek_pairs": 10, "offer_triples": 30, "seek_triples": 30,
}  # fmt: skip
# Tags of a person that form pairs (the first ones, as the person listed them).
PAIR_TAGS = 6

IntArray = NDArray[np.int64]
Bits = NDArray[np.uint64]


@dataclass
class PersonData:
    user_id: uuid.UUID
    skills: Sequence[str]
    interests: Sequence[str]
    offers: Sequence[str]
    seeks: Sequence[str]
    industry: str | None
    seniority: str | None
    city: str | None
    country: str | None
    # Upcoming events the person attends (confirmed or checked in).
    event_ids: Sequence[uuid.UUID] = ()
    # May be recommended to others (visible, not suspended, not deleted).
    eligible: bool = True


class _Codes:
    """Dense integer codes for values (tags, cities, …), most frequent first."""

    def __init__(self, values: Iterable[Any], limit: int | None = None) -> None:
        counts = Counter(values)
        self.codes = {value: code for code, (value, _) in enumerate(counts.most_common())}
        self.limit = limit

    def __call__(self, value: Any) -> int:
        code = self.codes.get(value, -1)
        if self.limit is not None and code >= self.limit:
            code = self.limit - 1 - (code % (self.limit // 2))  # fold the rarest
        return code

    @property
    def size(self) -> int:
        return min(len(self.codes), self.limit) if self.limit else len(self.codes)


@dataclass
class _Lists:
    """Per-person lists of codes, flattened (CSR): person `rows[i]` holds `codes[i]`."""

    rows: IntArray
    codes: IntArray


def _lists(per_person: list[list[int]]) -> _Lists:
    lengths = np.fromiter((len(items) for items in per_person), dtype=np.int64)
    rows = np.repeat(np.arange(len(per_person), dtype=np.int64), lengths)
    codes = np.fromiter((c for items in per_person for c in items), dtype=np.int64)
    return _Lists(rows, codes)


def _bits(lists: _Lists, n: int, size: int) -> Bits:
    words = max(1, (size + 63) // 64)
    bits = np.zeros((n, words), dtype=np.uint64)
    if len(lists.codes):
        np.bitwise_or.at(
            bits,
            (lists.rows, lists.codes // 64),
            np.left_shift(np.uint64(1), (lists.codes % 64).astype(np.uint64)),
        )
    return bits


def _combination_lists(per_person: list[list[int]], width: int, size: int) -> _Lists:
    """Every combination of `size` of a person's first `PAIR_TAGS` tags, as one code."""
    combos: list[list[int]] = []
    for items in per_person:
        head = sorted(set(items[:PAIR_TAGS]))
        codes = []
        for combination in itertools.combinations(head, size):
            code = 0
            for tag in combination:
                code = code * width + tag
            codes.append(code)
        combos.append(codes)
    return _lists(combos)


class Population:
    """People as arrays, ready to retrieve candidates and score pairs."""

    def __init__(self, people: Sequence[PersonData]) -> None:
        self.people = people
        self.n = n = len(people)
        self.ids = [person.user_id for person in people]
        self.index = {user_id: i for i, user_id in enumerate(self.ids)}
        tags = _Codes(
            (t for p in people for t in (*p.skills, *p.interests, *p.offers, *p.seeks)),
            MAX_TAG_BITS,
        )
        self.width = max(tags.size, 1)
        seeks = [[tags(t) for t in p.seeks] for p in people]
        offers = [[tags(t) for t in p.offers] for p in people]
        topics = [sorted({tags(t) for t in (*p.skills, *p.interests)}) for p in people]
        self.seeks, self.offers, self.topics = _lists(seeks), _lists(offers), _lists(topics)
        self.seek_bits = _bits(self.seeks, n, self.width)
        self.offer_bits = _bits(self.offers, n, self.width)
        self.topic_bits = _bits(self.topics, n, self.width)
        self.seek_counts = np.fromiter((len(set(p.seeks)) for p in people), np.int64, n)
        self.seek_pairs = _combination_lists(seeks, self.width, 2)
        self.offer_pairs = _combination_lists(offers, self.width, 2)
        self.seek_triples = _combination_lists(seeks, self.width, 3)
        self.offer_triples = _combination_lists(offers, self.width, 3)
        events = _Codes(e for p in people for e in p.event_ids)
        self.event_codes = events.codes
        self.events = _lists([[events(e) for e in p.event_ids] for p in people])
        self.event_bits = _bits(self.events, n, max(events.size, 1))
        self.industry = self._codes([p.industry.lower() if p.industry else None for p in people])
        self.city = self._codes([(p.country, p.city.lower()) if p.city else None for p in people])
        self.country = self._codes([p.country for p in people])
        self.step = np.fromiter((scoring.ladder_step(p.seniority) for p in people), np.int64, n)
        self.eligible = np.fromiter((p.eligible for p in people), bool, n)

    @staticmethod
    def _codes(values: list[Any]) -> IntArray:
        codes = _Codes(v for v in values if v is not None)
        return np.fromiter((codes(v) if v is not None else -1 for v in values), np.int64)

    # Candidates ------------------------------------------------------------------------

    def candidates(self, seekers: IntArray) -> tuple[IntArray, IntArray]:
        """(a, b) pairs to score for the seekers, without duplicates or self-pairs."""
        city_lists = _Lists(np.flatnonzero(self.city >= 0), self.city[self.city >= 0])
        families = [
            (self.seeks, self.offers, "offers"),
            (self.offers, self.seeks, "seeks"),
            (self.topics, self.topics, "topics"),
            (self.events, self.events, "events"),
            (city_lists, city_lists, "city"),
            (self.seek_pairs, self.offer_pairs, "offer_pairs"),
            (self.offer_pairs, self.seek_pairs, "seek_pairs"),
            (self.seek_triples, self.offer_triples, "offer_triples"),
            (self.offer_triples, self.seek_triples, "seek_triples"),
        ]
        wanted = np.zeros(self.n, dtype=bool)
        wanted[seekers] = True
        found_a: list[IntArray] = []
        found_b: list[IntArray] = []
        for queries, postings, family in families:
            a, b = _retrieve(queries, postings, wanted, self.eligible, POSTING_CAP[family])
            found_a.append(a)
            found_b.append(b)
        a, b = np.concatenate(found_a), np.concatenate(found_b)
        keep = a != b
        keys = np.sort(a[keep] * self.n + b[keep])  # sorting beats np.unique's hashing here
        if len(keys):
            keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
        return keys // self.n, keys % self.n

    # Scores ----------------------------------------------------------------------------

    def features(self, a: IntArray, b: IntArray) -> scoring.PairFeatures:
        def shared(bits: Bits, other: Bits | None = None) -> IntArray:
            right = bits if other is None else other
            counts: IntArray = np.bitwise_count(bits[a] & right[b]).sum(axis=1, dtype=np.int64)
            return counts

        gap = np.where(
            (self.step[a] < 0) | (self.step[b] < 0), -1, np.abs(self.step[a] - self.step[b])
        )
        return scoring.PairFeatures(
            a_seeks=self.seek_counts[a],
            b_seeks=self.seek_counts[b],
            a_answered=shared(self.seek_bits, self.offer_bits),
            b_answered=shared(self.offer_bits, self.seek_bits),
            shared_topics=shared(self.topic_bits),
            same_industry=(self.industry[a] >= 0) & (self.industry[a] == self.industry[b]),
            seniority_gap=gap,
            same_city=(self.city[a] >= 0) & (self.city[a] == self.city[b]),
            same_country=(self.country[a] >= 0) & (self.country[a] == self.country[b]),
            shared_events=shared(self.event_bits),
        )

    def scores(self, a: IntArray, b: IntArray) -> NDArray[np.float64]:
        score, _, _ = scoring.pair_scores(self.features(a, b))
        return np.asarray(score, dtype=np.float64)

    def shared_event_rows(self, a: IntArray, b: IntArray) -> tuple[IntArray, IntArray, IntArray]:
        """(pair index, event code) for each upcoming event both people of a pair attend."""
        starts = np.searchsorted(self.events.rows, a, side="left")
        ends = np.searchsorted(self.events.rows, a, side="right")
        lengths = ends - starts
        pair = np.repeat(np.arange(len(a)), lengths)
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        codes = self.events.codes[np.repeat(starts, lengths) + offsets]
        words = self.event_bits[b[pair], codes // 64]
        has = (words >> (codes % 64).astype(np.uint64)) & np.uint64(1)
        keep = has.astype(bool)
        return pair[keep], codes[keep], b[pair[keep]]


def _retrieve(
    queries: _Lists, postings: _Lists, wanted: NDArray[np.bool_], eligible: NDArray[np.bool_],
    cap: int,
) -> tuple[IntArray, IntArray]:  # fmt: skip
    """For each (person, code) query of a wanted person, up to `cap` holders of the code in
    `postings` (eligible ones), read from an offset that depends on the person."""
    take = wanted[queries.rows]
    q_rows, q_codes = queries.rows[take], queries.codes[take]
    holders = eligible[postings.rows]
    p_rows, p_codes = postings.rows[holders], postings.codes[holders]
    if not len(q_rows) or not len(p_rows):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order = np.argsort(p_codes, kind="stable")
    p_rows, p_codes = p_rows[order], p_codes[order]
    keys, starts, counts = np.unique(p_codes, return_index=True, return_counts=True)
    at = np.searchsorted(keys, q_codes)
    at_clipped = np.minimum(at, len(keys) - 1)
    hit = keys[at_clipped] == q_codes
    q_rows, at = q_rows[hit], at_clipped[hit]
    length = counts[at]
    taken = np.minimum(length, cap)
    # A different window of a long list for each person (multiplicative hashing).
    offset = (q_rows * 2654435761) % length
    total = int(taken.sum())
    within = np.arange(total) - np.repeat(np.cumsum(taken) - taken, taken)
    position = np.repeat(starts[at], taken) + (np.repeat(offset, taken) + within) % np.repeat(
        length, taken
    )
    return np.repeat(q_rows, taken), p_rows[position]


@dataclass
class Ranked:
    """Rows for the recommendations table: (seeker, context code, candidate, score, rank)."""

    user: IntArray
    context: IntArray  # -1 for overall, else an event code of the population
    candidate: IntArray
    score: NDArray[np.float64]
    rank_score: NDArray[np.float64]


def _top(groups: IntArray, score: NDArray[np.float64], k: int) -> IntArray:
    """Indices of the best `k` scores of each group, grouped, best first."""
    order = np.lexsort((-score, groups))
    sorted_groups = groups[order]
    first = np.searchsorted(sorted_groups, sorted_groups, side="left")
    rank = np.arange(len(order)) - first
    best: IntArray = order[rank < k]
    return best


def rank(
    population: Population,
    a: IntArray,
    b: IntArray,
    impressions: dict[tuple[int, int], int] | None = None,
    popularity_cap: bool = True,
) -> Ranked:
    """Scores the pairs and keeps each seeker's top K overall and per shared event
    (pairs with nothing at all in common are never kept)."""
    score = population.scores(a, b)
    fitting = score > 0
    a, b, score = a[fitting], b[fitting], score[fitting]
    rank_score = score.copy()
    if impressions:
        n = population.n
        keys = a * n + b
        shown_keys = np.fromiter((x * n + y for x, y in impressions), np.int64)
        shown = np.fromiter(impressions.values(), np.int64)
        order = np.argsort(shown_keys)
        at = np.minimum(np.searchsorted(shown_keys[order], keys), max(len(order) - 1, 0))
        if len(order):
            hit = shown_keys[order][at] == keys
            counts = np.where(hit, shown[order][at], 0)
            rank_score = rank_score * scoring.impression_factor(counts)
    best = _top(a, rank_score, scoring.TOP_K)
    if popularity_cap:
        rank_score = _cap_popularity(a, b, rank_score, best)
        best = _top(a, rank_score, scoring.TOP_K)
    # Within each shared upcoming event.
    pair, event_code, _ = population.shared_event_rows(a, b)
    groups = a[pair] * (len(population.event_codes) + 1) + event_code
    in_event = pair[_top(groups, rank_score[pair], scoring.TOP_K_PER_EVENT)]
    event_codes = event_code[_top(groups, rank_score[pair], scoring.TOP_K_PER_EVENT)]
    return Ranked(
        user=np.concatenate([a[best], a[in_event]]),
        context=np.concatenate([np.full(len(best), -1, np.int64), event_codes]),
        candidate=np.concatenate([b[best], b[in_event]]),
        score=np.concatenate([score[best], score[in_event]]),
        rank_score=np.concatenate([rank_score[best], rank_score[in_event]]),
    )


def _cap_popularity(
    a: IntArray, b: IntArray, rank_score: NDArray[np.float64], best: IntArray
) -> NDArray[np.float64]:
    """Demotes a person in the top 10s beyond the `POPULARITY_CAP` where they rank best."""
    order = np.lexsort((-rank_score[best], a[best]))
    sorted_a = a[best][order]
    position = np.arange(len(order)) - np.searchsorted(sorted_a, sorted_a, side="left")
    top = best[order][position < scoring.POPULARITY_TOP]
    by_candidate = top[np.lexsort((-rank_score[top], b[top]))]
    sorted_b = b[by_candidate]
    place = np.arange(len(by_candidate)) - np.searchsorted(sorted_b, sorted_b, side="left")
    demoted = by_candidate[place >= scoring.POPULARITY_CAP]
    capped = rank_score.copy()
    capped[demoted] *= scoring.POPULARITY_DEMOTION
    return capped


def event_id_of(population: Population) -> dict[int, Any]:
    return {code: event_id for event_id, code in population.event_codes.items()}
