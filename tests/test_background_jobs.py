"""Background jobs run supervised: a failure is logged with its traceback and the job
restarted with backoff; a job that keeps failing or stops beating shows in its health."""

import asyncio
import logging
import time

import httpx
import pytest
from prometheus_client import generate_latest

from shared.jobs import FAILING_AFTER_CONSECUTIVE_FAILURES, Supervisor, every, heartbeat
from shared.metrics import job_restarts
from tests.support.environment import StackEnvironment
from tests.support.waiting import eventually
from tools.stack import SUBGRAPHS, WITH_WORKERS, Stack


class Broken(Exception):
    pass


async def test_a_failing_job_is_logged_restarted_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        heartbeat()
        if runs <= 2:
            raise Broken(f"run {runs} failed")
        await asyncio.Event().wait()  # then runs for ever

    supervisor = Supervisor("test")
    before = job_restarts.labels("test", "flaky")._value.get()
    with caplog.at_level(logging.ERROR, logger="shared.jobs"):
        supervisor.start("flaky", flaky)
        await eventually(lambda: asyncio.sleep(0, runs == 3), "the third run", within=5)
    try:
        failures = [
            r for r in caplog.records if r.getMessage() == "background job failed, restarting"
        ]
        assert len(failures) == 2
        assert failures[0].exc_info is not None and failures[0].exc_info[0] is Broken
        assert job_restarts.labels("test", "flaky")._value.get() - before == 2
        assert supervisor.state("flaky").restarts == 2
        assert supervisor.health() == {"flaky": "ok"}
    finally:
        await supervisor.stop()


async def test_a_job_failing_again_and_again_is_reported_failing() -> None:
    async def always_broken() -> None:
        raise Broken("database schema mismatch")

    supervisor = Supervisor("test")
    supervisor.start("always_broken", always_broken)
    try:

        async def failing() -> bool:
            return supervisor.health()["always_broken"] != "ok"

        await eventually(failing, "the job to be reported failing", within=10)
        health = supervisor.health()["always_broken"]
        assert health.startswith(f"failing ({FAILING_AFTER_CONSECUTIVE_FAILURES} times")
        assert "Broken: database schema mismatch" in health
    finally:
        await supervisor.stop()


async def test_a_job_that_stops_beating_is_reported_stuck() -> None:
    async def hangs() -> None:
        heartbeat()
        await asyncio.Event().wait()  # a Redis call without a timeout, say

    supervisor = Supervisor("test", stuck_after_seconds=0.2)
    supervisor.start("hangs", hangs)
    try:
        assert supervisor.health() == {"hangs": "ok"}
        await asyncio.sleep(0.3)
        assert supervisor.health()["hangs"].startswith("stuck: no heartbeat for")
    finally:
        await supervisor.stop()


async def test_a_job_that_dies_is_reported_dead() -> None:
    class Fatal(BaseException):
        pass

    async def dies() -> None:
        raise Fatal("out of memory")

    supervisor = Supervisor("test")
    supervisor.start("dies", dies)
    try:
        await eventually(
            lambda: asyncio.sleep(0, supervisor.health()["dies"] != "ok"), "death", within=5
        )
        assert supervisor.health() == {"dies": "dead: Fatal: out of memory"}
        # And Prometheus sees it down (the MeetinityBackgroundJobDown alert).
        assert 'meetinity_background_job_up{job="dies",service="test"} 0.0' in (
            generate_latest().decode()
        )
    finally:
        await supervisor.stop()


async def test_a_scheduled_chore_runs_every_interval_and_keeps_beating() -> None:
    runs: list[float] = []

    async def chore() -> None:
        runs.append(time.monotonic())

    supervisor = Supervisor("test", stuck_after_seconds=1)
    supervisor.start("chore", every(0.1, chore))
    try:
        await eventually(lambda: asyncio.sleep(0, len(runs) >= 3), "three runs", within=5)
        assert supervisor.health() == {"chore": "ok"}
    finally:
        await supervisor.stop()


async def test_readiness_reports_each_background_job(
    environment: StackEnvironment, stack: Stack
) -> None:
    async with httpx.AsyncClient() as client:
        serving = await client.get(environment.config.url("events", "/readyz"))
        working = await client.get(environment.config.worker_url("events"))
    assert serving.status_code == working.status_code == 200
    assert serving.json()["jobs"] == {"outbox_relay": "ok", "retention": "ok"}
    assert working.json()["jobs"] == {
        "consume_users_events": "ok", "outbox_relay": "ok", "retention": "ok",
    }  # fmt: skip


async def test_requests_and_background_work_run_in_processes_of_their_own(
    environment: StackEnvironment, stack: Stack
) -> None:
    """The process the router calls runs no consumer, mailer or chore (each relays its
    own outbox); the worker runs them and serves no GraphQL."""
    query = {"query": "{ _service { sdl } }"}
    async with httpx.AsyncClient() as client:
        for subgraph in SUBGRAPHS:
            serving = (await client.get(environment.config.url(subgraph, "/readyz"))).json()
            assert set(serving["jobs"]) <= {"outbox_relay", "retention"}, subgraph
            answer = await client.post(environment.config.url(subgraph), json=query)
            assert answer.status_code == 200, subgraph
        for subgraph in WITH_WORKERS:
            working = (await client.get(environment.config.worker_url(subgraph))).json()
            assert working["ready"], working
            assert set(working["jobs"]) - {"outbox_relay", "retention"}, subgraph
            graphql = environment.config.worker_url(subgraph, "/graphql")
            answer = await client.post(graphql, json=query)
            assert answer.status_code == 404, subgraph
