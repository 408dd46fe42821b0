"""The jobs that keep `recommendations` current.

- Incremental (`rescore_queued`, a supervised job in every matching process): a person
  whose profile, registrations or blocks changed is queued by the consumer in the same
  transaction; the job re-scores them against their candidates (retrieved in SQL
  through the GIN indexes on tags, co-attendance and city) and writes their lists, and
  the pair's row in the lists of the people it concerns. Seconds, not a full run.
- Full (`full_recompute`, `python -m tools matching-recompute`, and the supervised
  `recompute_periodically`): the whole population ranked in bulk (`engine.py`, in
  worker processes when the machine has free cores), streamed chunk by chunk with
  binary COPY into a new table while the next chunk is ranked, indexed once filled,
  the popularity cap's few demotions applied by key, and swapped in at the end, so
  readers never see a half list. People re-scored incrementally meanwhile are queued
  again after the swap. One run at a time across processes (a PostgreSQL advisory
  lock).

Exclusions (blocks, likes, passes, matches, visibility, suspension, deletion) are
applied when lists are read, so they hold at once, whatever the jobs are doing.
"""

import asyncio
import contextlib
import itertools
import logging
import struct
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import numpy as np
from fastapi import FastAPI

from shared.db import Database
from shared.jobs import heartbeat, idle, woken_within
from subgraphs.matching import engine, scoring
from subgraphs.matching.models import OVERALL

log = logging.getLogger(__name__)
T = TypeVar("T")

# Set after a commit that queued someone (in this process); other processes poll.
rescore_wakeup = asyncio.Event()
RESCORE_POLL_SECONDS = 0.5
RESCORE_BATCH = 20
# Candidates of one person retrieved per index in incremental re-scoring.
INCREMENTAL_CAP = {"tags": 400, "pairs": 60, "events": 300, "city": 150}
RECOMPUTE_LOCK = 0x6D61746368  # "match"

ATTENDING = ("confirmed", "checked_in")
UPCOMING = """
    SELECT r.user_id, array_agg(DISTINCT r.event_id) AS event_ids
    FROM matching.registrations r
    JOIN matching.known_events e ON e.event_id = r.event_id
    WHERE r.status IN ('confirmed', 'checked_in') AND e.status = 'published'
      AND e.starts_at > now() - interval '12 hours' {where}
    GROUP BY r.user_id
"""
PEOPLE = """
    SELECT user_id, skills, interests, offers, seeks, industry, seniority, city, country,
           visibility <> 'private' AND NOT suspended AND NOT deleted AS eligible
    FROM matching.people {where}
"""


async def beating(work: Awaitable[T]) -> T:
    """Awaits long work (a thread) while telling the supervisor the job is alive."""
    task = asyncio.ensure_future(work)
    while True:
        heartbeat()
        done, _ = await asyncio.wait({task}, timeout=5.0)
        if done:
            return task.result()


@contextlib.asynccontextmanager
async def connection(db: Database) -> AsyncIterator[asyncpg.Connection]:
    """The driver's own connection from the pool: COPY and arrays without the ORM."""
    async with db.engine.connect() as pooled:
        driver = (await pooled.get_raw_connection()).driver_connection
        assert driver is not None
        yield driver


async def load_people(
    conn: asyncpg.Connection, user_ids: Sequence[uuid.UUID] | None = None
) -> list[engine.PersonData]:
    where_people = "" if user_ids is None else "WHERE user_id = ANY($1::uuid[])"
    where_events = "" if user_ids is None else "AND r.user_id = ANY($1::uuid[])"
    args = () if user_ids is None else (list(user_ids),)
    people = await conn.fetch(PEOPLE.format(where=where_people), *args)
    attending = {
        row["user_id"]: row["event_ids"]
        for row in await conn.fetch(UPCOMING.format(where=where_events), *args)
    }
    return [
        engine.PersonData(
            row["user_id"],
            row["skills"],
            row["interests"],
            row["offers"],
            row["seeks"],
            row["industry"],
            row["seniority"],
            row["city"],
            row["country"],
            attending.get(row["user_id"], ()),
            row["eligible"],
        )
        for row in people
    ]


def _impressions(
    population: engine.Population, shown: Sequence[asyncpg.Record]
) -> engine.Impressions:
    """Showings counted against the discount, by pair of the population's people."""
    index = population.index
    pairs = {
        (index[row["user_id"]], index[row["candidate_id"]]): row["shown"]
        for row in shown
        if row["user_id"] in index and row["candidate_id"] in index
    }
    return engine.Impressions(pairs, population.n)


# Writing lists ---------------------------------------------------------------------------

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_ROW = np.dtype([
    ("fields", ">i2"),
    ("user_len", ">i4"), ("user", "V16"),
    ("context_len", ">i4"), ("context", "V16"),
    ("candidate_len", ">i4"), ("candidate", "V16"),
    ("score_len", ">i4"), ("score", ">f8"),
    ("rank_len", ">i4"), ("rank", ">f8"),
    ("at_len", ">i4"), ("at", ">i8"),
])  # fmt: skip
COLUMNS = ["user_id", "context_id", "candidate_id", "score", "rank_score", "computed_at"]


class CopyRows:
    """Ranked rows in PostgreSQL's binary COPY format, built without a Python loop: the
    body of the COPY, chunk by chunk (`HEADER` first, `TRAILER` last)."""

    HEADER = _COPY_HEADER
    TRAILER = _COPY_TRAILER

    def __init__(self, population: engine.Population, computed_at: datetime) -> None:
        self.ids = np.frombuffer(b"".join(u.bytes for u in population.ids), dtype="V16")
        event_ids = engine.event_id_of(population)
        self.contexts = np.frombuffer(
            b"".join([OVERALL.bytes] + [event_ids[code].bytes for code in range(len(event_ids))]),
            dtype="V16",
        )
        self.at = int((computed_at - _PG_EPOCH).total_seconds() * 1_000_000)

    def __call__(self, ranked: engine.Ranked) -> bytes:
        rows = np.empty(len(ranked.user), dtype=_ROW)
        rows["fields"] = len(COLUMNS)
        for name in ("user", "context", "candidate"):
            rows[f"{name}_len"] = 16
        rows["score_len"] = rows["rank_len"] = rows["at_len"] = 8
        rows["user"] = self.ids[ranked.user]
        rows["context"] = self.contexts[ranked.context + 1]
        rows["candidate"] = self.ids[ranked.candidate]
        rows["score"] = ranked.score
        rows["rank"] = ranked.rank_score
        rows["at"] = self.at
        return rows.tobytes()


# Full recompute --------------------------------------------------------------------------


@dataclass
class RecomputeStats:
    people: int
    pairs_scored: int
    rows: int
    seconds: float


Progress = engine.Progress


@dataclass
class _Written:
    """What the full recompute's COPY has sent: the counts, and everyone's overall rows
    (seeker, candidate, rank) for the popularity cap."""

    pairs: int = 0
    rows: int = 0
    overall: list[tuple[Any, Any, Any]] = field(default_factory=list)


async def _ranked_rows(
    population: engine.Population,
    impressions: engine.Impressions,
    computed_at: datetime,
    progress: Progress | None,
    written: _Written,
) -> AsyncIterator[bytes]:
    """The COPY data, sent chunk by chunk while the next chunk is ranked: PostgreSQL
    parses rows on one core while the ranking runs on the other."""
    encode = CopyRows(population, computed_at)
    chunks = engine.rank_chunks(population, impressions, progress)
    try:
        yield CopyRows.HEADER
        while (result := await asyncio.to_thread(next, chunks, None)) is not None:
            part, pairs = result
            written.pairs += pairs
            written.rows += len(part.user)
            overall = part.context == -1
            written.overall.append(
                (part.user[overall], part.candidate[overall], part.rank_score[overall])
            )
            yield await asyncio.to_thread(encode, part)
        yield CopyRows.TRAILER
    finally:
        await asyncio.to_thread(chunks.close)


def _demotions(
    population: engine.Population, written: _Written
) -> tuple[list[uuid.UUID], list[uuid.UUID], list[float]]:
    """The overall rows the popularity cap demotes: (seekers, candidates, new ranks)."""
    if not written.overall:
        return [], [], []
    user, candidate, rank_score = (
        np.concatenate(column) for column in zip(*written.overall, strict=True)
    )
    capped = engine.cap_popularity(user, candidate, rank_score)
    demoted = np.flatnonzero(capped < rank_score)
    ids = population.ids
    return (
        [ids[i] for i in user[demoted]],
        [ids[i] for i in candidate[demoted]],
        capped[demoted].tolist(),
    )


async def full_recompute(db: Database, progress: Progress | None = None) -> RecomputeStats | None:
    """Ranks everyone and swaps the new lists in; None when another run holds the lock."""
    started = time.perf_counter()
    computed_at = datetime.now(UTC)
    async with connection(db) as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RECOMPUTE_LOCK):
            return None
        try:
            people = await load_people(conn)
            population = await beating(asyncio.to_thread(engine.Population, people))
            shown = await conn.fetch(
                "SELECT user_id, candidate_id, shown FROM matching.impressions WHERE shown > $1",
                scoring.IMPRESSIONS_FREE,
            )
            impressions = _impressions(population, shown)
            written = _Written()
            rows = _ranked_rows(population, impressions, computed_at, progress, written)
            await beating(_fill_next(conn, rows))
            demoted = await asyncio.to_thread(_demotions, population, written)
            await beating(_index_and_swap(conn, demoted, computed_at))
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", RECOMPUTE_LOCK)
    stats = RecomputeStats(population.n, written.pairs, written.rows, time.perf_counter() - started)
    log.info("recommendations recomputed", extra={"fields": vars(stats)})
    return stats


async def _fill_next(conn: asyncpg.Connection, rows: AsyncIterator[bytes]) -> None:
    await conn.execute(
        "DROP TABLE IF EXISTS matching.recommendations_next;"
        "CREATE UNLOGGED TABLE matching.recommendations_next"
        " (LIKE matching.recommendations INCLUDING DEFAULTS)"
    )
    await conn.copy_to_table(
        "recommendations_next", schema_name="matching", source=rows, format="binary",
        columns=COLUMNS,
    )  # fmt: skip


async def _index_and_swap(
    conn: asyncpg.Connection,
    demoted: tuple[list[uuid.UUID], list[uuid.UUID], list[float]],
    computed_at: datetime,
) -> None:
    # Indexes built once the rows are in: far cheaper than maintained row by row.
    await conn.execute(
        "ALTER TABLE matching.recommendations_next ADD CONSTRAINT pk_recommendations_next"
        " PRIMARY KEY (user_id, context_id, candidate_id);"
        "CREATE INDEX ix_recommendations_next_candidate ON matching.recommendations_next"
        " (candidate_id)"
    )
    # The popularity cap, known once everyone is ranked: a few rows, found by key.
    await conn.execute(
        "UPDATE matching.recommendations_next r SET rank_score = d.rank_score"
        " FROM unnest($1::uuid[], $2::uuid[], $3::float8[]) AS d(user_id, candidate_id, rank_score)"
        " WHERE r.user_id = d.user_id AND r.context_id = $4 AND r.candidate_id = d.candidate_id",
        *demoted, OVERALL,
    )  # fmt: skip
    async with conn.transaction():
        await conn.execute("LOCK TABLE matching.recommendations IN ACCESS EXCLUSIVE MODE")
        # Re-scored incrementally while this run worked from an older projection.
        await conn.execute(
            "INSERT INTO matching.rescore_queue (user_id) SELECT DISTINCT user_id"
            " FROM matching.recommendations WHERE computed_at > $1 ON CONFLICT DO NOTHING",
            computed_at,
        )
        await conn.execute(
            "DROP TABLE matching.recommendations;"
            "ALTER TABLE matching.recommendations_next RENAME TO recommendations;"
            "ALTER INDEX matching.pk_recommendations_next RENAME TO pk_recommendations;"
            "ALTER INDEX matching.ix_recommendations_next_candidate"
            " RENAME TO ix_recommendations_candidate"
        )
    rescore_wakeup.set()


async def recompute_periodically(app: FastAPI) -> None:
    """The full recompute every `MATCHING_RECOMPUTE_SECONDS` (0: never), one process at
    a time. It beats while it waits (a wait is not being stuck)."""
    interval = app.state.settings.matching_recompute_seconds
    while True:
        heartbeat()
        if interval <= 0:
            await idle(60)
            continue
        await idle(interval)
        await full_recompute(app.state.background_db)


# Incremental -----------------------------------------------------------------------------

CANDIDATES = """
    WITH me AS (SELECT * FROM matching.people WHERE user_id = $1),
    found AS (
        (SELECT p.user_id FROM matching.people p, me WHERE p.offers && me.seeks LIMIT $2)
        UNION (SELECT p.user_id FROM matching.people p, me WHERE p.seeks && me.offers LIMIT $2)
        UNION (SELECT p.user_id FROM matching.people p, me WHERE p.topics && me.topics LIMIT $2)
        UNION (SELECT p.user_id FROM matching.people p, me
               WHERE p.city = me.city AND p.country = me.country LIMIT $5)
        UNION (SELECT p.user_id FROM matching.people p
               JOIN unnest($6::text[], $7::text[]) AS pair(x, y)
                 ON p.offers @> ARRAY[pair.x, pair.y]::varchar[] LIMIT $3)
        UNION (SELECT p.user_id FROM matching.people p
               JOIN unnest($8::text[], $9::text[]) AS pair(x, y)
                 ON p.seeks @> ARRAY[pair.x, pair.y]::varchar[] LIMIT $3)
        UNION (SELECT p.user_id FROM matching.people p
               JOIN unnest($10::text[], $11::text[], $12::text[]) AS three(x, y, z)
                 ON p.offers @> ARRAY[three.x, three.y, three.z]::varchar[] LIMIT $3)
        UNION (SELECT p.user_id FROM matching.people p
               JOIN unnest($13::text[], $14::text[], $15::text[]) AS three(x, y, z)
                 ON p.seeks @> ARRAY[three.x, three.y, three.z]::varchar[] LIMIT $3)
        UNION (SELECT other.user_id FROM matching.registrations mine
               JOIN matching.known_events e ON e.event_id = mine.event_id
               JOIN matching.registrations other ON other.event_id = mine.event_id
               WHERE mine.user_id = $1 AND mine.status IN ('confirmed', 'checked_in')
                 AND other.status IN ('confirmed', 'checked_in') AND e.status = 'published'
                 AND e.starts_at > now() - interval '12 hours' LIMIT $4)
        UNION (SELECT user_id FROM matching.recommendations WHERE candidate_id = $1)
    )
    SELECT user_id FROM found WHERE user_id <> $1
"""


def _combinations(tags: Sequence[str], size: int) -> list[list[str]]:
    """The combinations of `size` of a person's first tags, as one list per position
    (what `unnest` takes), like the bulk ranking's pair and triple keys."""
    head = sorted(set(tags[: engine.PAIR_TAGS]))
    combinations = list(itertools.combinations(head, size))
    return [[combination[i] for combination in combinations] for i in range(size)]


async def rescore_person(conn: asyncpg.Connection, user_id: uuid.UUID) -> int:
    """Re-scores one person against their candidates; the number of rows written."""
    me = await conn.fetchrow(
        "SELECT seeks, offers FROM matching.people WHERE user_id = $1", user_id
    )
    if me is None:
        return 0
    cap = INCREMENTAL_CAP
    found = await conn.fetch(
        CANDIDATES, user_id, cap["tags"], cap["pairs"], cap["events"], cap["city"],
        *_combinations(me["seeks"], 2), *_combinations(me["offers"], 2),
        *_combinations(me["seeks"], 3), *_combinations(me["offers"], 3),
    )  # fmt: skip
    ids = [user_id] + [row["user_id"] for row in found]
    people = await load_people(conn, ids)
    people.sort(key=lambda person: person.user_id != user_id)  # the seeker first
    population = engine.Population(people)
    others = np.flatnonzero(population.eligible)
    others = others[others != 0]
    a = np.zeros(len(others), dtype=np.int64)
    shown = await conn.fetch(
        "SELECT user_id, candidate_id, shown FROM matching.impressions"
        " WHERE (user_id = $1 OR candidate_id = $1) AND shown > $2",
        user_id, scoring.IMPRESSIONS_FREE,
    )  # fmt: skip
    impressions = _impressions(population, shown)
    ranked = engine.rank(population, a, others, impressions, popularity_cap=False)
    # The same pairs seen from the other side (the score is symmetric).
    back = engine.rank(population, others, a, impressions, popularity_cap=False)
    # The other side of the pairs: for the people who have the seeker in their lists
    # already, and for those the seeker now ranks highest.
    holders = {
        row["user_id"]
        for row in await conn.fetch(
            "SELECT DISTINCT user_id FROM matching.recommendations WHERE candidate_id = $1",
            user_id,
        )
    }
    holders |= {population.ids[v] for v in ranked.candidate}
    event_ids = engine.event_id_of(population)
    now = datetime.now(UTC)

    def rows(r: engine.Ranked) -> list[tuple[Any, ...]]:
        return [
            (population.ids[u], OVERALL if c < 0 else event_ids[int(c)], population.ids[v],
             float(s), float(k), now)
            for u, c, v, s, k in zip(r.user, r.context, r.candidate, r.score, r.rank_score,
                                     strict=True)
        ]  # fmt: skip

    mine = rows(ranked)
    theirs = [row for row in rows(back) if row[0] in holders]
    async with conn.transaction():
        await conn.execute("DELETE FROM matching.recommendations WHERE user_id = $1", user_id)
        await conn.executemany(
            "INSERT INTO matching.recommendations"
            " (user_id, context_id, candidate_id, score, rank_score, computed_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (user_id, context_id, candidate_id) DO UPDATE SET"
            " score = excluded.score, rank_score = excluded.rank_score,"
            " computed_at = excluded.computed_at",
            mine + theirs,
        )
    return len(mine) + len(theirs)


async def rescore_queued(app: FastAPI) -> None:
    """Takes people off the re-scoring queue, a few at a time, as soon as they are queued."""
    db: Database = app.state.background_db
    while True:
        heartbeat()
        done = await rescore_batch(db)
        if done < RESCORE_BATCH:
            await woken_within(rescore_wakeup, RESCORE_POLL_SECONDS)
            rescore_wakeup.clear()


async def rescore_batch(db: Database) -> int:
    async with connection(db) as conn:
        queued = await conn.fetch(
            "SELECT user_id, queued_at FROM matching.rescore_queue ORDER BY queued_at LIMIT $1",
            RESCORE_BATCH,
        )
        for row in queued:
            async with conn.transaction():
                # Another process on the same person: leave it to them.
                if not await conn.fetchval(
                    "SELECT pg_try_advisory_xact_lock($1, hashtext($2))",
                    RECOMPUTE_LOCK % 2**31, str(row["user_id"]),
                ):  # fmt: skip
                    continue
                await rescore_person(conn, row["user_id"])
                await conn.execute(
                    "DELETE FROM matching.rescore_queue WHERE user_id = $1 AND queued_at = $2",
                    row["user_id"], row["queued_at"],
                )  # fmt: skip
            heartbeat()
    return len(queued)
