import asyncio
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest

from shared import jobs
from shared.jobs import Supervisor
from subgraphs.matching.rescoring import recompute_periodically


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
