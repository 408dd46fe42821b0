import asyncio
import uuid
from functools import partial
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest

from shared import jobs
from shared.db import Database
from shared.jobs import Supervisor
from subgraphs.matching import rescoring, scoring
from subgraphs.matching.models import OVERALL
from subgraphs.matching.rescoring import recompute_periodically
from tests.support.environment import StackEnvironment
from tests.support.graphql import GraphQLClient


async def test_the_periodic_recompute_is_not_reported_stuck_while_it_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Waiting an hour for the next run once made /readyz answer 503 a minute after start.
    monkeypatch.setattr(jobs, "IDLE_BEAT_SECONDS", 0.05)
    settings = SimpleNamespace(matching_recompute_seconds=3600.0)
    app: Any = SimpleNamespace(state=SimpleNamespace(settings=settings))
    supervisor = Supervisor("matching", stuck_after_seconds=0.3)
    supervisor.start("recompute_periodically", partial(recompute_periodically, app))
    try:
        await asyncio.sleep(0.8)
        assert supervisor.health() == {"recompute_periodically": "ok"}
    finally:
        await supervisor.stop()


async def test_the_full_recompute_demotes_someone_in_too_many_top_tens(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    # The cap needs everyone's top 10s, so the streamed recompute applies it at the end,
    # to the rows it demotes: the lists in the table must carry it.
    url = environment.config.database_url
    tag = uuid.uuid4().hex[:8]
    needs = [f"need{n} {tag}" for n in range(6)]
    star = (uuid.uuid4(), needs, [f"help {tag}"])
    fans = [
        (uuid.uuid4(), [f"help {tag}"], [needs[n % 6]]) for n in range(scoring.POPULARITY_CAP + 20)
    ]
    connection = await asyncpg.connect(url)
    try:
        await connection.executemany(
            "INSERT INTO matching.people (user_id, name, skills, interests, offers, seeks,"
            " topics, visibility, role, suspended, deleted, field_versions)"
            " VALUES ($1, 'Fan', '{}', '{}', $2, $3, '{}', 'members', 'member', false, false,"
            " '{}')",
            [star, *fans],
        )
        db = Database(url, "test", pool_size=2)
        try:
            stats = await rescoring.full_recompute(db)
        finally:
            await db.dispose()
        assert stats is not None and stats.rows > 0
        rows = await connection.fetch(
            "SELECT score, rank_score FROM matching.recommendations"
            " WHERE candidate_id = $1 AND context_id = $2",
            star[0], OVERALL,
        )  # fmt: skip
    finally:
        await connection.close()
    assert len(rows) == len(fans)
    demoted = [row for row in rows if row["rank_score"] < row["score"]]
    assert len(demoted) >= 20
    assert len(rows) - len(demoted) == scoring.POPULARITY_CAP
    for row in demoted:
        assert row["rank_score"] == pytest.approx(row["score"] * scoring.POPULARITY_DEMOTION)
