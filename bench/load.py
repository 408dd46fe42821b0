"""Load that does not share the server's Python: wrk with Lua scripts, CPU from /proc.

- `StackUnderTest`: a private stack started by `bench.stack_server`, from this checkout
  or from a baseline checkout (`--baseline DIR`, e.g. `git archive <commit> | tar -x -C
  DIR`), so before and after run side by side, alternately, on the same machine.
- `run_wrk`: drives one URL with wrk; every request carries the next token of a list
  (the router merges identical requests in flight, and a registration is one per
  person), and a Lua `response` hook counts errors and collects what the caller asks.
- `CpuMeter`: CPU seconds each process of the stack spent during a run, from
  /proc/<pid>/stat (children included: the router's and uvicorn's workers), and the
  PostgreSQL backends serving the stack's database.
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from shared.auth import Role, TokenSigner
from shared.settings import REPO_ROOT, get_settings

TICKS = os.sysconf("SC_CLK_TCK")


def ensure_wrk() -> str:
    """The wrk binary, installed from Debian's packages when missing."""
    found = shutil.which("wrk")
    if found is None:
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"]
        if subprocess.run(install, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], check=True)
            subprocess.run(install, check=True)
        found = shutil.which("wrk")
    assert found is not None
    return found


def pgbench_binary() -> str:
    found = shutil.which("pgbench") or next(
        (str(path) for path in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))), None
    )
    if found is None:
        raise SystemExit("pgbench not found (it comes with PostgreSQL's client tools)")
    return found


@dataclass
class StackUnderTest:
    """A running private stack, described by `bench.stack_server`."""

    label: str
    router_url: str
    urls: dict[str, str]
    database_url: str
    jwt_private_key_file: Path
    pids: dict[str, int]
    process: subprocess.Popen[str]

    def tokens(
        self, count: int, role: Role = Role.MEMBER, people: list[str] | None = None
    ) -> list[str]:
        """`count` distinct access tokens, signed as the users subgraph signs them: of new
        people, or of `people` (user ids) in turn."""
        settings = get_settings()
        signer = TokenSigner(
            self.jwt_private_key_file, settings.jwt_issuer, settings.jwt_audience, 3600
        )
        return [
            signer.issue(uuid.UUID(people[n % len(people)]) if people else uuid.uuid4(), role)[0]
            for n in range(count)
        ]

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(60)


def _checkout_for(baseline: Path) -> Path:
    """A baseline checkout made runnable: this stack server, the router's node_modules."""
    shutil.copy(REPO_ROOT / "bench" / "stack_server.py", baseline / "bench" / "stack_server.py")
    modules = baseline / "router" / "node_modules"
    if not modules.exists():
        modules.symlink_to(REPO_ROOT / "router" / "node_modules")
    return baseline


@contextmanager
def stack_under_test(
    label: str, checkout: Path = REPO_ROOT, env: dict[str, str] | None = None
) -> Iterator[StackUnderTest]:
    if checkout != REPO_ROOT:
        _checkout_for(checkout)
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.stack_server",
         *(f"{key}={value}" for key, value in (env or {}).items())],
        cwd=checkout, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(checkout)},
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait()
        raise SystemExit(f"the {label} stack did not start")
    described = json.loads(line)
    stack = StackUnderTest(
        label=label,
        router_url=described["router_url"],
        urls=described["urls"],
        database_url=described["database_url"],
        jwt_private_key_file=Path(described["jwt_private_key_file"]),
        pids=described["pids"],
        process=process,
    )
    try:
        yield stack
    finally:
        stack.stop()


def add_comparison_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--baseline", type=Path, help="a checkout to compare with: 'before' runs from it"
    )
    parser.add_argument(
        "--before-env", action="append", default=[], metavar="KEY=VALUE",
        help="environment of a 'before' stack (from this checkout unless --baseline)",
    )  # fmt: skip
    parser.add_argument(
        "--after-env", action="append", default=[], metavar="KEY=VALUE",
        help="environment of the 'after' stack (this checkout)",
    )  # fmt: skip


def _pairs(values: list[str]) -> dict[str, str]:
    return dict(value.split("=", 1) for value in values)


def stacks_to_compare(
    running: ExitStack, args: argparse.Namespace, env: dict[str, str] | None = None
) -> list[StackUnderTest]:
    """The 'after' stack, and a 'before' one when asked for (`add_comparison_arguments`):
    from a baseline checkout, or from this one with other settings (`--before-env
    UVICORN_WORKERS=1 --after-env UVICORN_WORKERS=2`). `env` goes to both."""
    stacks = []
    if args.baseline or args.before_env or args.after_env:
        before = {**(env or {}), **_pairs(args.before_env)}
        checkout = args.baseline or REPO_ROOT
        stacks.append(running.enter_context(stack_under_test("before", checkout, before)))
    after = {**(env or {}), **_pairs(args.after_env)}
    stacks.append(running.enter_context(stack_under_test("after", env=after)))
    return stacks


# CPU -----------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of one process, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def _tree_cpu(root: int) -> float:
    """CPU seconds of a process and all its living descendants."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)], cpu[int(entry.name)] = stat
    total, frontier = 0.0, [root]
    while frontier:
        pid = frontier.pop()
        total += cpu.get(pid, 0.0)
        frontier.extend(child for child, parent in parents.items() if parent == pid)
    return total


async def _backend_cpu(database_url: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to the stack's database."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    return {row["pid"]: stat[1] for row in rows if (stat := _stat(row["pid"])) is not None}


@dataclass
class CpuMeter:
    """CPU seconds spent by each process of a stack between `start` and `stop`."""

    stack: StackUnderTest
    _before: dict[str, float] = field(default_factory=dict)
    _backends: dict[int, float] = field(default_factory=dict)

    def _sample(self) -> dict[str, float]:
        return {name: _tree_cpu(pid) for name, pid in self.stack.pids.items()}

    def start(self) -> None:
        self._backends = asyncio.run(_backend_cpu(self.stack.database_url))
        self._before = self._sample()

    def stop(self) -> dict[str, float]:
        after = self._sample()
        backends = asyncio.run(_backend_cpu(self.stack.database_url))
        spent = {name: after[name] - self._before[name] for name in after}
        # Backends opened during the run count from zero; those closed during it are
        # lost (connection churn hides some PostgreSQL CPU, never adds any).
        spent["postgres"] = sum(cpu - self._backends.get(pid, 0.0) for pid, cpu in backends.items())
        return spent


# wrk -----------------------------------------------------------------------------------

LUA = r"""
-- Generated by bench/load.py: one token per request, in turn; errors counted;
-- the values of one JSON field collected (a registration's waitlist position).
local body = %(body)s
local tokens_file = %(tokens_file)s
local collect = %(collect)s
local thread_count = %(threads)d

local created = 0
local threads = {}

function setup(thread)
  thread:set("thread_index", created)
  created = created + 1
  table.insert(threads, thread)
end

local tokens = {}
local next_token = 1
errors = 0
wrapped = 0
collected = ""
error_sample = ""

function init(args)
  local n = 0
  for line in io.lines(tokens_file) do
    if n %% thread_count == thread_index then table.insert(tokens, line) end
    n = n + 1
  end
end

function request()
  local token = tokens[next_token]
  next_token = next_token + 1
  if next_token > #tokens then
    next_token = 1
    wrapped = wrapped + 1
  end
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

function response(status, headers, response_body)
  if status ~= 200 or response_body:find('"errors"', 1, true) then
    errors = errors + 1
    if error_sample == "" then error_sample = status .. " " .. response_body:sub(1, 300) end
  end
  if collect ~= "" then
    local value = response_body:match('"' .. collect .. '":%%s*(%%d+)')
    if value then collected = collected .. value .. "," end
  end
end

function done(summary, latency, requests)
  local errors_total, wrapped_total, values, sample = 0, 0, {}, ""
  for _, thread in ipairs(threads) do
    errors_total = errors_total + thread:get("errors")
    wrapped_total = wrapped_total + thread:get("wrapped")
    table.insert(values, thread:get("collected"))
    if sample == "" then sample = thread:get("error_sample") end
  end
  io.write(string.format(
    'WRK_RESULT {"requests": %%d, "duration_us": %%d, "socket_errors": %%d, "non_2xx": %%d, ' ..
    '"errors": %%d, "wrapped": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, ' ..
    '"collected": "%%s", "error_sample": %%q}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, errors_total, wrapped_total,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    table.concat(values), sample))
end
"""


def _lua_string(value: str) -> str:
    return "[==[" + value + "]==]"


@dataclass
class WrkResult:
    requests: int
    seconds: float
    errors: int
    wrapped: bool
    p50_ms: float
    p90_ms: float
    p99_ms: float
    collected: list[int]
    error_sample: str

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def run_wrk(
    url: str,
    body: dict[str, Any],
    tokens: list[str],
    *,
    connections: int,
    seconds: int,
    collect: str = "",
) -> WrkResult:
    """wrk's durations are whole seconds (it rejects "2.5s")."""
    threads = min(2, connections)
    with tempfile.TemporaryDirectory() as tmp:
        tokens_file = Path(tmp) / "tokens"
        tokens_file.write_text("\n".join(tokens) + "\n")
        script = Path(tmp) / "bench.lua"
        script.write_text(
            LUA
            % {
                "body": _lua_string(json.dumps(body)),
                "tokens_file": _lua_string(str(tokens_file)),
                "collect": _lua_string(collect),
                "threads": threads,
            }
        )
        completed = subprocess.run(
            [ensure_wrk(), "-t", str(threads), "-c", str(connections),
             "-d", f"{max(1, int(seconds))}s", "--timeout", "10s", "-s", str(script), url],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    match = re.search(r"^WRK_RESULT (.*)$", completed.stdout, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk said:\n{completed.stdout}\n{completed.stderr}")
    raw = json.loads(match.group(1))
    return WrkResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=raw["errors"] + raw["socket_errors"],
        wrapped=raw["wrapped"] > 0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        collected=[int(value) for value in raw["collected"].split(",") if value],
        error_sample=raw["error_sample"],
    )


def pgbench_tps(database_url: str, script: str, variables: dict[str, str], *,
                clients: int, seconds: int) -> float:  # fmt: skip
    """Transactions per second pgbench gets from `script` (prepared statements, like asyncpg)."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as file:
        file.write(script)
        file.flush()
        completed = subprocess.run(
            [pgbench_binary(), "-n", "-M", "prepared", "-c", str(clients), "-j", "2",
             "-T", str(seconds), "-f", file.name,
             *(f"-D{name}={value}" for name, value in variables.items()), database_url],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    match = re.search(r"tps = ([\d.]+)", completed.stdout)
    if match is None:
        raise RuntimeError(f"pgbench said:\n{completed.stdout}\n{completed.stderr}")
    return float(match.group(1))


def cpu_ms_per_request(spent: dict[str, float], requests: int) -> dict[str, float]:
    return {name: 1000 * seconds / max(requests, 1) for name, seconds in spent.items()}
