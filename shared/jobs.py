"""Supervised background jobs: the outbox relay, stream consumers and scheduled chores.

A subgraph lists its jobs in `Subgraph.background_jobs` (a coroutine function taking
the app); `create_app` runs each one under a `Supervisor`, never as a bare task. When a
job raises, the supervisor logs the error with its traceback, counts the restart and
starts the job again after a backoff with jitter (so replicas that failed together do
not retry together). A job calls `heartbeat()` each time round its loop (at least once
every `stuck_after_seconds`: that is how it says it made progress); `/readyz`
reports a job that is dead (its supervisor stopped), failing (it keeps crashing) or
stuck (it stopped beating), and so do the metrics.

The restart delay is `shared.backoff.Backoff` rather than tenacity: a job that ran
well for an hour and then fails must start again from the shortest delay, which
tenacity only offers by rebuilding its retry block on each success.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from shared.backoff import Backoff
from shared.logs import describe
from shared.metrics import job_heartbeat, job_restarts, job_up

log = logging.getLogger(__name__)

JobRun = Callable[[], Coroutine[Any, Any, None]]

# Consecutive failures after which a job counts as failing in `/readyz` (one failure
# during a short outage of Redis or PostgreSQL is normal and heals by itself).
FAILING_AFTER_CONSECUTIVE_FAILURES = 3


@dataclass
class JobState:
    name: str
    stuck_after_seconds: float
    started: bool = False
    dead: bool = False
    restarts: int = 0
    consecutive_failures: int = 0
    last_beat: float = field(default_factory=time.monotonic)
    last_error: str | None = None

    def beat(self) -> None:
        self.last_beat = time.monotonic()
        self.consecutive_failures = 0

    def health(self) -> str:
        """ "ok", or what an operator needs to know about this job."""
        if self.dead:
            return f"dead: {self.last_error}"
        if self.consecutive_failures >= FAILING_AFTER_CONSECUTIVE_FAILURES:
            return f"failing ({self.consecutive_failures} times in a row): {self.last_error}"
        silent = time.monotonic() - self.last_beat
        if silent > self.stuck_after_seconds:
            return f"stuck: no heartbeat for {silent:.0f} s"
        return "ok"


_current_job: ContextVar[JobState | None] = ContextVar("current_job", default=None)
_current_service: ContextVar[str] = ContextVar("current_service", default="meetinity")


def heartbeat() -> None:
    """Tells the supervisor the running job is alive and making progress (a no-op outside
    a supervised job, so the same code also runs in tests and tools)."""
    state = _current_job.get()
    if state is not None:
        state.beat()
        job_heartbeat.labels(_current_service.get(), state.name).set_to_current_time()


class Supervisor:
    """Runs named jobs for ever: restarted with backoff when they fail, watched for stalls."""

    def __init__(self, service: str, stuck_after_seconds: float = 60.0) -> None:
        self._service = service
        self._stuck_after = stuck_after_seconds
        self._jobs: dict[str, JobState] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, run: JobRun, *, stuck_after_seconds: float | None = None) -> None:
        if name in self._jobs:
            raise ValueError(f"a job named {name!r} is already supervised")
        state = JobState(name, stuck_after_seconds or self._stuck_after)
        self._jobs[name] = state
        self._tasks.append(asyncio.create_task(self._supervise(state, run), name=f"job:{name}"))

    async def _supervise(self, state: JobState, run: JobRun) -> None:
        _current_job.set(state)
        _current_service.set(self._service)
        backoff = Backoff(first_seconds=0.1, ceiling_seconds=30.0)
        up = job_up.labels(self._service, state.name)
        try:
            while True:
                up.set(1)
                state.last_beat = time.monotonic()  # a fresh start is not a stall
                try:
                    await run()
                    error = "returned, although a job runs until cancelled"
                    exc_info: BaseException | None = None
                except Exception as exc:
                    error, exc_info = describe(exc), exc
                up.set(0)
                if state.consecutive_failures == 0:
                    backoff.reset()  # it made progress since its last failure
                state.restarts += 1
                state.consecutive_failures += 1
                state.last_error = error
                job_restarts.labels(self._service, state.name).inc()
                log.error(
                    "background job failed, restarting",
                    exc_info=exc_info,
                    extra={
                        "fields": {
                            "job": state.name,
                            "error": error,
                            "restarts": state.restarts,
                            "restart_in_seconds": round(backoff.delay, 3),
                        }
                    },
                )
                await backoff.sleep()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            state.dead = True
            state.last_error = describe(exc)
            log.critical("background job died", exc_info=exc, extra={"fields": {"job": state.name}})
            raise
        finally:
            up.set(0)

    def health(self) -> dict[str, str]:
        """Each job's health, for `/readyz`: "ok" or why not."""
        for task, state in zip(self._tasks, self._jobs.values(), strict=True):
            if task.done() and not task.cancelled() and not state.dead:
                state.dead = True
                state.last_error = state.last_error or "stopped"
        return {name: state.health() for name, state in self._jobs.items()}

    def state(self, name: str) -> JobState:
        return self._jobs[name]

    async def stop(self) -> None:
        # On Python 3.11 a cancellation landing as an awaited wait_for completes can be
        # lost (redis-py reconnects with wait_for): a job still running is cancelled
        # again, and shutdown never waits more than 5 s on one that keeps missing it.
        loop = asyncio.get_running_loop()
        running = set(self._tasks)
        deadline = loop.time() + 5
        while running and loop.time() < deadline:
            for task in running:
                task.cancel()
            _, running = await asyncio.wait(running, timeout=0.2)


def every(seconds: float, chore: Callable[[], Awaitable[object]]) -> JobRun:
    """A job running `chore` now and then every `seconds` (retention purges and the like)."""

    async def run() -> None:
        while True:
            await chore()
            heartbeat()
            await idle(seconds)

    return run


# How often a waiting job beats: well under any sensible `stuck_after_seconds`.
IDLE_BEAT_SECONDS = 5.0


async def woken_within(wakeup: asyncio.Event, seconds: float) -> bool:
    """Waits for `wakeup` (work was queued), at most `seconds` (the job's poll); whether
    it was set. The caller clears it."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wakeup.wait()
    return wakeup.is_set()


async def idle(seconds: float) -> None:
    """Sleeps, beating meanwhile: a job waiting for its next run is not stalled."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(left, IDLE_BEAT_SECONDS))
        heartbeat()
