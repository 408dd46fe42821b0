"""Matching at scale: full recompute, incremental re-scoring, and recommendation quality.

    .venv/bin/python -m bench.matching --people 10000 --people 100000

For each population size, on a private database of the machine's PostgreSQL
(`TEST_DATABASE_URL` or the local server), the script:

1. generates a synthetic population straight into matching's projection: a vocabulary of
   `--tags` tags with Zipf-like popularity (exponent `--zipf`), about 20 tags per person
   (6 skills, 6 interests, 4 offers, 4 seeks), cities and industries, `--events`
   upcoming events with about two registrations per person, and `--planted` percent of
   people in planted complementary pairs (each one's three seeks are among the other's
   offers, both ways);
2. runs the full recompute exactly as the periodic job does (`rescoring.full_recompute`:
   load, candidate retrieval, vectorised scoring, binary COPY, swap) and reports its
   time, its CPU time (this process and its ranking workers), how far the process's
   peak resident memory rose above what it held before, and the largest worker's;
3. changes `--incremental` random people's tags and re-scores each one as the
   incremental job does (`rescoring.rescore_person`), reporting p50 / p99;
4. reports quality: the share of planted partners in each other's overall top 10, and
   exposure: the share of people in nobody's top 10.
"""

import argparse
import asyncio
import os
import random
import resource
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np

from shared.db import Database
from shared.migrations import upgrade
from subgraphs.matching import engine, rescoring, scoring
from subgraphs.matching.models import OVERALL

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CITIES = [("Paris", "FR"), ("Lyon", "FR"), ("London", "GB"), ("Berlin", "DE"),
          ("Madrid", "ES"), ("Milan", "IT"), ("Amsterdam", "NL"), ("Lisbon", "PT"),
          ("Manchester", "GB"), ("Munich", "DE")]  # fmt: skip
INDUSTRIES = ["software", "fintech", "health", "energy", "retail", "media", "education",
              "logistics", "aerospace", "biotech", "gaming", "consulting"]  # fmt: skip


@dataclass
class Population:
    ids: list[uuid.UUID]
    planted: list[tuple[int, int]]


def generate(n: int, tags: int, zipf: float, events: int, planted_percent: float,
             seed: int) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]],
                                 list[tuple[object, ...]], Population]:  # fmt: skip
    rng = np.random.default_rng(seed)
    vocabulary = [f"tag{rank:03d}" for rank in range(tags)]
    weights = 1.0 / np.arange(1, tags + 1) ** zipf
    weights /= weights.sum()

    def draw(count: int) -> list[str]:
        picks = rng.choice(tags, size=count * 2, p=weights)
        return list(dict.fromkeys(vocabulary[i] for i in picks))[:count]

    ids = [uuid.uuid4() for _ in range(n)]
    people: list[list[Any]] = []
    for i, user_id in enumerate(ids):
        city, country = CITIES[i % len(CITIES)] if rng.random() < 0.8 else (None, None)
        people.append([
            user_id, f"Person {i}", INDUSTRIES[int(rng.integers(len(INDUSTRIES)))],
            scoring.SENIORITY_LADDER[int(rng.integers(len(scoring.SENIORITY_LADDER)))],
            city, country, draw(6), draw(6), draw(4), draw(4),
        ])  # fmt: skip
    pairs = []
    order = rng.permutation(n)
    for k in range(int(n * planted_percent / 100) // 2):
        x, y = int(order[2 * k]), int(order[2 * k + 1])
        for seeker, giver in ((x, y), (y, x)):
            needs = draw(3)
            people[seeker][9] = needs
            people[giver][8] = list(dict.fromkeys(needs + people[giver][8]))[:5]
        pairs.append((x, y))
    rows: list[tuple[object, ...]] = [
        (p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9],
         sorted(set(p[6]) | set(p[7])), "members", "member", False, False, "{}")
        for p in people
    ]  # fmt: skip
    start = datetime.now(UTC) + timedelta(days=7)
    event_ids = [uuid.uuid4() for _ in range(events)]
    known: list[tuple[object, ...]] = [
        (e, f"Event {k}", None, start + timedelta(days=k % 60), "published", 1)
        for k, e in enumerate(event_ids)
    ]
    registrations: list[tuple[object, ...]] = []
    for user_id in ids:
        for e in rng.choice(events, size=int(rng.poisson(2)), replace=False):
            registrations.append((uuid.uuid4(), event_ids[int(e)], user_id, "confirmed", 1))
    return rows, known, registrations, Population(ids, pairs)


PEOPLE_COLUMNS = ["user_id", "name", "industry", "seniority", "city", "country", "skills",
                  "interests", "offers", "seeks", "topics", "visibility", "role", "suspended",
                  "deleted", "field_versions"]  # fmt: skip


async def load(url: str, rows: list[tuple[object, ...]], known: list[tuple[object, ...]],
               registrations: list[tuple[object, ...]]) -> None:  # fmt: skip
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table(
            "people", schema_name="matching", records=rows, columns=PEOPLE_COLUMNS
        )
        await conn.copy_records_to_table(
            "known_events", schema_name="matching", records=known,
            columns=["event_id", "title", "organizer_id", "starts_at", "status", "version"],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "registrations", schema_name="matching", records=registrations,
            columns=["registration_id", "event_id", "user_id", "status", "version"],
        )  # fmt: skip
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def quality(url: str, population: Population) -> tuple[float, float]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT user_id, candidate_id FROM (SELECT user_id, candidate_id, row_number()"
            " OVER (PARTITION BY user_id ORDER BY rank_score DESC, candidate_id DESC) AS n"
            " FROM matching.recommendations WHERE context_id = $1) r WHERE n <= 10",
            OVERALL,
        )
    finally:
        await conn.close()
    top = {(row["user_id"], row["candidate_id"]) for row in rows}
    ids = population.ids
    found = sum(
        ((ids[x], ids[y]) in top) + ((ids[y], ids[x]) in top) for x, y in population.planted
    )
    planted_share = found / max(2 * len(population.planted), 1)
    exposed = {candidate for _, candidate in top}
    return planted_share, 1 - len(exposed) / len(ids)


async def incremental(url: str, population: Population, count: int, seed: int) -> list[float]:
    db = Database(url, "bench", pool_size=1)
    rng = random.Random(seed)
    timings = []
    try:
        async with rescoring.connection(db) as conn:
            for user_id in rng.sample(population.ids, count):
                await conn.execute(
                    "UPDATE matching.people SET interests = interests[2:] || $2::varchar,"
                    " topics = topics || $2::varchar WHERE user_id = $1",
                    user_id, f"tag{rng.randrange(50):03d}",
                )  # fmt: skip
                started = time.perf_counter()
                await rescoring.rescore_person(conn, user_id)
                timings.append(time.perf_counter() - started)
    finally:
        await db.dispose()
    return timings


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def run(args: argparse.Namespace, n: int) -> None:
    name = f"meetinity_bench_matching_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        await asyncio.to_thread(upgrade, "matching", url)
        started = time.perf_counter()
        rows, known, registrations, population = generate(
            n, args.tags, args.zipf, args.events, args.planted, args.seed
        )
        await load(url, rows, known, registrations)
        print(f"\n{n} people, {len(registrations)} registrations, {args.events} events, "
              f"{len(population.planted)} planted pairs (generated and loaded in "
              f"{time.perf_counter() - started:.1f} s)")  # fmt: skip
        db = Database(url, "bench", pool_size=2)
        before = _rss_mib()
        cpu_before = _cpu_seconds()
        load_before = os.getloadavg()[0]
        workers = engine.rank_workers()
        stats = await rescoring.full_recompute(db)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
        # Worker processes, if the ranking used any (the largest one's peak).
        worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        cpu = _cpu_seconds() - cpu_before
        await db.dispose()
        assert stats is not None
        print(f"full recompute: {stats.seconds:.1f} s, {stats.pairs_scored} pairs scored "
              f"({stats.pairs_scored / n:.0f} per person), {stats.rows} rows, "
              f"peak memory +{peak:.0f} MiB over the {before:.0f} MiB before it "
              f"(rank workers: {workers}, largest worker {worker_peak:.0f} MiB); "
              f"{cpu:.1f} s of CPU in this process and its workers (PostgreSQL's not "
              f"counted); load average {load_before:.1f} at its start")  # fmt: skip
        planted, unexposed = await quality(url, population)
        print(f"quality: {planted:.1%} of planted partners in each other's top 10; "
              f"{unexposed:.1%} of people in nobody's top 10")  # fmt: skip
        timings = await incremental(url, population, args.incremental, args.seed)
        print(f"incremental re-score ({len(timings)} people): "
              f"p50 {percentile(timings, 50) * 1000:.0f} ms, "
              f"p99 {percentile(timings, 99) * 1000:.0f} ms, "
              f"mean {statistics.mean(timings) * 1000:.0f} ms")  # fmt: skip
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, action="append")
    parser.add_argument("--tags", type=int, default=400)
    parser.add_argument("--zipf", type=float, default=1.0)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--planted", type=float, default=2.0, help="percent of people")
    parser.add_argument("--incremental", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}")
    for n in args.people or [10_000]:
        asyncio.run(run(args, n))
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
