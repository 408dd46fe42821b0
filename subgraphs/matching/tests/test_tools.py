"""`python -m tools matching-backfill` rebuilds the projection from the owners' data, and
`matching-recompute` (the supervised periodic job, on demand) rebuilds every list."""

import uuid

import httpx

from subgraphs.events.tests.test_people_projection import run_tool
from subgraphs.matching.tests.support import (
    fetch,
    profiled,
    recommended_ids,
    wait_until_recommended,
)
from tests.support.environment import StackEnvironment
from tests.support.graphql import GraphQLClient


async def test_backfill_rebuilds_the_projection_and_the_recompute_every_list(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    config = environment.config
    one, two = f"t{uuid.uuid4().hex[:8]}", f"t{uuid.uuid4().hex[:8]}"
    viewer = await profiled(api, "Bea Backfilled", seeks=[one], offers=[two])
    other = await profiled(api, "Cal Backfilled", seeks=[two], offers=[one])
    await wait_until_recommended(api, viewer, [other])
    # As if the streams had been trimmed before matching ever saw them.
    await fetch(
        config.database_url, "DELETE FROM matching.people WHERE user_id = ANY($1::uuid[])",
        [uuid.UUID(viewer.id), uuid.UUID(other.id)],
    )  # fmt: skip
    await fetch(config.database_url, "DELETE FROM matching.recommendations")
    assert await recommended_ids(api, viewer) == []

    output = await run_tool(environment, "matching-backfill")
    assert "people" in output and "pairs scored" in output, output
    [copy] = await fetch(
        config.database_url, "SELECT seeks, offers FROM matching.people WHERE user_id = $1",
        uuid.UUID(viewer.id),
    )  # fmt: skip
    assert (copy["seeks"], copy["offers"]) == ([one], [two])
    assert other.id in await recommended_ids(api, viewer)
    assert viewer.id in await recommended_ids(api, other)

    # Once more, while the consumers run: nothing changes, nothing breaks.
    await run_tool(environment, "matching-recompute")
    assert (await recommended_ids(api, viewer))[0] == other.id
    async with httpx.AsyncClient() as client:
        ready = (await client.get(config.worker_url("matching"))).json()
    assert ready["jobs"]["recompute_periodically"] == "ok"
    assert ready["jobs"]["rescore_queued"] == "ok"
