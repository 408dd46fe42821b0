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
import multiprocessing
import os
import uuid
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
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

    def of(self, values: Sequence[Any], fold: bool = True) -> IntArray:
        """The codes of many values at once (-1 for unknown ones); `fold=False`: one code
        per distinct value, even beyond the limit."""
        get = self.codes.get
        codes = np.fromiter((get(v, -1) for v in values), np.int64, len(values))
        return self.fold(codes) if fold else codes

    def fold(self, codes: IntArray) -> IntArray:
        if self.limit is None:
            return codes
        limit = self.limit
        return np.where(codes >= limit, limit - 1 - (codes % (limit // 2)), codes)

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


def _field(people: Sequence["PersonData"], name: str) -> tuple[IntArray, list[Any]]:
    """Each person's row repeated once per value of a list field, and the values, flat."""
    per_person = [getattr(person, name) for person in people]
    lengths = np.fromiter(map(len, per_person), np.int64, len(per_person))
    rows = np.repeat(np.arange(len(per_person), dtype=np.int64), lengths)
    return rows, [value for values in per_person for value in values]


def _distinct(rows: IntArray, codes: IntArray, width: int) -> _Lists:
    """Each (person, code) once, by person then code."""
    keys = np.sort(rows * width + codes)
    if len(keys):
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    return _Lists(keys // width, keys % width)


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


def _combination_lists(lists: _Lists, n: int, width: int, size: int) -> _Lists:
    """Every combination of `size` of a person's first `PAIR_TAGS` distinct tags (as they
    listed them), as one code, by person."""
    starts = np.searchsorted(lists.rows, np.arange(n))
    position = np.arange(len(lists.rows)) - starts[lists.rows]
    head = position < PAIR_TAGS
    # Each person's head as a row of a matrix, ascending, padded with `width` (no tag).
    matrix = np.full((n, PAIR_TAGS), width, dtype=np.int64)
    matrix[lists.rows[head], position[head]] = lists.codes[head]
    matrix.sort(axis=1)
    repeated = np.zeros_like(matrix, dtype=bool)
    repeated[:, 1:] = matrix[:, 1:] == matrix[:, :-1]
    matrix[repeated] = width
    matrix.sort(axis=1)
    rows: list[IntArray] = []
    codes: list[IntArray] = []
    for columns in itertools.combinations(range(PAIR_TAGS), size):
        picked = matrix[:, list(columns)]
        valid = np.flatnonzero((picked < width).all(axis=1))
        code = np.zeros(len(valid), dtype=np.int64)
        for column in range(size):
            code = code * width + picked[valid, column]
        rows.append(valid)
        codes.append(code)
    all_rows, all_codes = np.concatenate(rows), np.concatenate(codes)
    order = np.argsort(all_rows, kind="stable")
    return _Lists(all_rows[order], all_codes[order])


@dataclass
class _Postings:
    """Who holds each code (eligible people only), sorted by code: the holders of
    `keys[i]` are `rows[starts[i] : starts[i] + counts[i]]`."""

    keys: IntArray
    starts: IntArray
    counts: IntArray
    rows: IntArray

    @classmethod
    def of(cls, lists: _Lists, eligible: NDArray[np.bool_]) -> "_Postings":
        holders = eligible[lists.rows]
        rows, codes = lists.rows[holders], lists.codes[holders]
        order = np.argsort(codes, kind="stable")
        rows, codes = rows[order], codes[order]
        keys, starts, counts = np.unique(codes, return_index=True, return_counts=True)
        return cls(keys, starts, counts, rows)


class Population:
    """People as arrays, ready to retrieve candidates and score pairs."""

    def __init__(self, people: Sequence[PersonData]) -> None:
        self.people = people
        self.n = n = len(people)
        self.ids = [person.user_id for person in people]
        self.index = {user_id: i for i, user_id in enumerate(self.ids)}
        fields = {name: _field(people, name) for name in ("skills", "interests", "offers", "seeks")}
        tags = _Codes((t for _, values in fields.values() for t in values), MAX_TAG_BITS)
        self.width = width = max(tags.size, 1)
        codes = {name: (rows, tags.of(values)) for name, (rows, values) in fields.items()}
        # Seeks and offers as each person listed them (their first tags form pairs).
        self.seeks, self.offers = _Lists(*codes["seeks"]), _Lists(*codes["offers"])
        topic_rows = np.concatenate([codes["skills"][0], codes["interests"][0]])
        topic_codes = np.concatenate([codes["skills"][1], codes["interests"][1]])
        self.topics = _distinct(topic_rows, topic_codes, width)
        self.seek_bits = _bits(self.seeks, n, width)
        self.offer_bits = _bits(self.offers, n, width)
        self.topic_bits = _bits(self.topics, n, width)
        # Distinct things sought (before the rarest tags fold onto shared bits).
        seek_rows, seek_values = fields["seeks"]
        distinct_seeks = _distinct(seek_rows, tags.of(seek_values, fold=False), len(tags.codes) + 1)
        self.seek_counts = np.bincount(distinct_seeks.rows, minlength=n).astype(np.int64)
        self.seek_pairs = _combination_lists(self.seeks, n, width, 2)
        self.offer_pairs = _combination_lists(self.offers, n, width, 2)
        self.seek_triples = _combination_lists(self.seeks, n, width, 3)
        self.offer_triples = _combination_lists(self.offers, n, width, 3)
        event_rows, event_values = _field(people, "event_ids")
        events = _Codes(event_values)
        self.event_codes = events.codes
        self.events = _Lists(event_rows, events.of(event_values))
        self.event_bits = _bits(self.events, n, max(events.size, 1))
        self.industry = self._codes([p.industry.lower() if p.industry else None for p in people])
        self.city = self._codes([(p.country, p.city.lower()) if p.city else None for p in people])
        self.country = self._codes([p.country for p in people])
        self.step = np.fromiter((scoring.ladder_step(p.seniority) for p in people), np.int64, n)
        self.eligible = np.fromiter((p.eligible for p in people), bool, n)
        city_lists = _Lists(np.flatnonzero(self.city >= 0), self.city[self.city >= 0])
        # Candidate retrieval: (what the seeker has, who holds it, posting cap) per family.
        self.families = [
            (queries, _Postings.of(postings, self.eligible), POSTING_CAP[family])
            for queries, postings, family in (
                (self.seeks, self.offers, "offers"),
                (self.offers, self.seeks, "seeks"),
                (self.topics, self.topics, "topics"),
                (self.events, self.events, "events"),
                (city_lists, city_lists, "city"),
                (self.seek_pairs, self.offer_pairs, "offer_pairs"),
                (self.offer_pairs, self.seek_pairs, "seek_pairs"),
                (self.seek_triples, self.offer_triples, "offer_triples"),
                (self.offer_triples, self.seek_triples, "seek_triples"),
            )
        ]

    def __getstate__(self) -> dict[str, Any]:
        """What ranking needs, for a worker process: arrays, not the people."""
        state = dict(self.__dict__)
        for name in ("people", "ids", "index"):
            state.pop(name)
        return state

    @staticmethod
    def _codes(values: list[Any]) -> IntArray:
        return _Codes(v for v in values if v is not None).of(values)

    # Candidates ------------------------------------------------------------------------

    def candidates(self, seekers: IntArray) -> tuple[IntArray, IntArray]:
        """(a, b) pairs to score for the seekers, without duplicates or self-pairs."""
        wanted = np.zeros(self.n, dtype=bool)
        wanted[seekers] = True
        found_a: list[IntArray] = []
        found_b: list[IntArray] = []
        for queries, postings, cap in self.families:
            a, b = _retrieve(queries, postings, wanted, cap)
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
            both = np.take(bits, a, axis=0)
            both &= np.take(bits if other is None else other, b, axis=0)
            # A reduction over the short axis of words, in a small type, is much faster.
            counts: IntArray = np.add.reduce(np.bitwise_count(both), axis=1, dtype=np.uint16)
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
    queries: _Lists, postings: _Postings, wanted: NDArray[np.bool_], cap: int
) -> tuple[IntArray, IntArray]:
    """For each (person, code) query of a wanted person, up to `cap` holders of the code,
    read from an offset that depends on the person."""
    take = wanted[queries.rows]
    q_rows, q_codes = queries.rows[take], queries.codes[take]
    keys = postings.keys
    if not len(q_rows) or not len(keys):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    at = np.minimum(np.searchsorted(keys, q_codes), len(keys) - 1)
    hit = keys[at] == q_codes
    q_rows, at = q_rows[hit], at[hit]
    length = postings.counts[at]
    taken = np.minimum(length, cap)
    # A different window of a long list for each person (multiplicative hashing).
    offset = (q_rows * 2654435761) % length
    total = int(taken.sum())
    within = np.arange(total) - np.repeat(np.cumsum(taken) - taken, taken)
    position = np.repeat(postings.starts[at], taken) + (
        np.repeat(offset, taken) + within
    ) % np.repeat(length, taken)
    return np.repeat(q_rows, taken), postings.rows[position]


@dataclass
class Ranked:
    """Rows for the recommendations table: (seeker, context code, candidate, score, rank)."""

    user: IntArray
    context: IntArray  # -1 for overall, else an event code of the population
    candidate: IntArray
    score: NDArray[np.float64]
    rank_score: NDArray[np.float64]


def _grouped_order(groups: IntArray, score: NDArray[np.float64]) -> IntArray:
    """Indices ordered by group, then best score first (ties: in index order).

    One stable sort of an integer key (the group in the high bits, the score in [0, 1]
    quantised to 2^-bits below it) is several times faster than a lexsort; scores closer
    than that (about 1e-11) count as ties."""
    span = int(groups.max()) + 1 if len(groups) else 1
    bits = 62 - span.bit_length()
    if bits < 24:
        ordered: IntArray = np.lexsort((-score, groups))
        return ordered
    worst = (1 << bits) - 1
    quantised = np.rint((1.0 - np.clip(score, 0.0, 1.0)) * worst).astype(np.int64)
    ordered = np.argsort((groups.astype(np.int64) << bits) | quantised, kind="stable")
    return ordered


def _top(groups: IntArray, score: NDArray[np.float64], k: int) -> IntArray:
    """Indices of the best `k` scores of each group, grouped, best first."""
    order = _grouped_order(groups, score)
    sorted_groups = groups[order]
    first = np.searchsorted(sorted_groups, sorted_groups, side="left")
    rank = np.arange(len(order)) - first
    best: IntArray = order[rank < k]
    return best


class Impressions:
    """How often each seeker was shown each candidate (beyond the free showings), as
    sorted pair keys, so a chunk's pairs find theirs with one binary search."""

    def __init__(self, shown: dict[tuple[int, int], int], n: int) -> None:
        self.n = n
        keys = np.fromiter((a * n + b for a, b in shown), np.int64, len(shown))
        counts = np.fromiter(shown.values(), np.int64, len(shown))
        order = np.argsort(keys)
        self.keys, self.counts = keys[order], counts[order]

    def factor(self, a: IntArray, b: IntArray) -> NDArray[np.float64]:
        if not len(self.keys):
            return np.ones(len(a))
        keys = a.astype(np.int64) * self.n + b
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        counts = np.where(self.keys[at] == keys, self.counts[at], 0)
        return np.asarray(scoring.impression_factor(counts), dtype=np.float64)


def rank(
    population: Population,
    a: IntArray,
    b: IntArray,
    impressions: Impressions | None = None,
    popularity_cap: bool = True,
) -> Ranked:
    """Scores the pairs and keeps each seeker's top K overall and per shared event
    (pairs with nothing at all in common are never kept)."""
    score = population.scores(a, b)
    fitting = score > 0
    a, b, score = a[fitting], b[fitting], score[fitting]
    rank_score = score.copy()
    if impressions is not None:
        rank_score *= impressions.factor(a, b)
    best = _top(a, rank_score, scoring.TOP_K)
    if popularity_cap:
        rank_score = _cap_popularity(a, b, rank_score, best)
        best = _top(a, rank_score, scoring.TOP_K)
    # Within each shared upcoming event.
    pair, event_code, _ = population.shared_event_rows(a, b)
    groups = a[pair] * (len(population.event_codes) + 1) + event_code
    top_in_event = _top(groups, rank_score[pair], scoring.TOP_K_PER_EVENT)
    in_event, event_codes = pair[top_in_event], event_code[top_in_event]
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
    order = _grouped_order(a[best], rank_score[best])
    sorted_a = a[best][order]
    position = np.arange(len(order)) - np.searchsorted(sorted_a, sorted_a, side="left")
    top = best[order][position < scoring.POPULARITY_TOP]
    by_candidate = top[_grouped_order(b[top], rank_score[top])]
    sorted_b = b[by_candidate]
    place = np.arange(len(by_candidate)) - np.searchsorted(sorted_b, sorted_b, side="left")
    demoted = by_candidate[place >= scoring.POPULARITY_CAP]
    capped = rank_score.copy()
    capped[demoted] *= scoring.POPULARITY_DEMOTION
    return capped


def event_id_of(population: Population) -> dict[int, Any]:
    return {code: event_id for event_id, code in population.event_codes.items()}


# Everyone -------------------------------------------------------------------------------

CHUNK = 5000  # seekers ranked at once (bounds the memory of one ranking)
# Processes that rank chunks at once in the full recompute (at most one per free core).
MAX_RANK_WORKERS = 4

Progress = Callable[[int, int], None]

# A worker process's population and impressions, set once when it starts.
_worker_state: tuple[Population, Impressions | None] | None = None


def _start_worker(population: Population, impressions: Impressions | None) -> None:
    global _worker_state
    _worker_state = (population, impressions)


def _rank_chunk(bounds: tuple[int, int]) -> tuple[Ranked, int]:
    """One chunk of seekers ranked in a worker: their lists, and the pairs scored."""
    assert _worker_state is not None
    population, impressions = _worker_state
    return _rank_seekers(population, impressions, bounds)


def _rank_seekers(
    population: Population, impressions: Impressions | None, bounds: tuple[int, int]
) -> tuple[Ranked, int]:
    a, b = population.candidates(np.arange(*bounds))
    ranked = rank(population, a, b, impressions, popularity_cap=False)
    # Halves what travels back from a worker; codes fit in 32 bits.
    for name in ("user", "context", "candidate"):
        setattr(ranked, name, getattr(ranked, name).astype(np.int32))
    return ranked, len(a)


def rank_workers() -> int:
    """One process per core the machine has free (by its load average), at most
    `MAX_RANK_WORKERS`. On a busy machine a second process only competes for the same
    core and memory bandwidth: measured on 2 loaded cores, two workers spent half as
    much CPU again as one process and finished later (docs/benchmarks.md)."""
    cores = len(os.sched_getaffinity(0))
    free = cores - os.getloadavg()[0]
    return max(1, min(cores, MAX_RANK_WORKERS, int(free + 0.5)))


def rank_chunks(
    population: Population,
    impressions: Impressions | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    chunk: int = CHUNK,
) -> Generator[tuple[Ranked, int], None, None]:
    """Each chunk of seekers' lists as soon as it is ranked (before the popularity cap,
    which needs everyone's), with the number of pairs scored. The chunks are
    independent: with free cores they are ranked in worker processes (spawned, so that
    a recompute in a server with threads never forks it), each handed the population
    once."""
    bounds = [(start, min(start + chunk, population.n)) for start in range(0, population.n, chunk)]
    workers = min(rank_workers() if workers is None else workers, len(bounds))
    if workers <= 1:
        for chunk_bounds in bounds:
            yield _rank_seekers(population, impressions, chunk_bounds)
            if progress:
                progress(chunk_bounds[1], population.n)
        return
    with ProcessPoolExecutor(
        workers, multiprocessing.get_context("spawn"), _start_worker, (population, impressions)
    ) as pool:
        for chunk_bounds, result in zip(bounds, pool.map(_rank_chunk, bounds), strict=True):
            yield result
            if progress:
                progress(chunk_bounds[1], population.n)


def cap_popularity(
    user: IntArray, candidate: IntArray, rank_score: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The popularity cap over everyone's overall lists (rows of all seekers)."""
    return _cap_popularity(user, candidate, rank_score, np.arange(len(user)))
