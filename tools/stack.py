"""Starts and stops the whole stack: four subgraphs (any number of replicas) and the router.

One piece of code for `make dev`, the tests and the benchmarks, so they all run
the very processes production runs, configured only through the environment.
"""

import os
import random
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from shared.settings import REPO_ROOT, ProcessRole

SUBGRAPHS = ("users", "events", "matching", "messaging")
# Subgraphs with background jobs (stream consumers, the mailer, re-scoring): these run
# in a worker process of their own, so that the work following a request never shares
# a process, its event loop and its pools with the requests themselves.
WITH_WORKERS = ("events", "matching", "messaging")
# Workers yield the CPU to the processes serving requests: background work may wait a
# little, a person may not (docs/architecture.md, "Processes").
WORKER_NICENESS = 10
DEFAULT_PORTS = {"router": 4000, "users": 4001, "events": 4002, "matching": 4003, "messaging": 4004}
# Each process serves Prometheus metrics on a port of its own, apart from its public one.
DEFAULT_METRICS_PORTS = {name: port + 5400 for name, port in DEFAULT_PORTS.items()}
# A worker serves health, readiness and metrics only (no GraphQL), on ports of its own.
DEFAULT_WORKER_PORTS = {name: DEFAULT_PORTS[name] + 10 for name in WITH_WORKERS}
DEFAULT_WORKER_METRICS_PORTS = {name: port + 5400 for name, port in DEFAULT_WORKER_PORTS.items()}
# The local trace collector, on OTLP/HTTP's usual port.
DEFAULT_COLLECTOR_PORT = 4318
ROUTER_DIR = REPO_ROOT / "router"
# A larger young generation for the router's V8: a gateway makes much short-lived
# garbage per request, and fewer scavenges cut its CPU per cross-subgraph query by about
# a fifth (docs/benchmarks.md, fourth round). The router image sets the same.
ROUTER_NODE_OPTIONS = "--max-semi-space-size=64"
SUPERGRAPH_FILE = REPO_ROOT / "schema" / "supergraph.graphql"


# Below Linux's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999 by default).
# A port picked from that range and free when probed can become the source port of any
# connection the machine opens before the service binds it, and a test run opens
# thousands; the kernel may also hand the same free port to two probes in a row.
PICKABLE_PORTS = range(20000, 32768)
_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, and that this process has not handed out before."""
    while True:
        port = random.choice(PICKABLE_PORTS)
        if port in _handed_out:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


@dataclass
class StackConfig:
    database_url: str
    redis_url: str
    redis_prefix: str
    jwt_private_key_file: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    metrics_ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_METRICS_PORTS))
    worker_ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_WORKER_PORTS))
    worker_metrics_ports: dict[str, int] = field(
        default_factory=lambda: dict(DEFAULT_WORKER_METRICS_PORTS)
    )
    log_dir: Path | None = None  # None: processes write to this terminal
    env: dict[str, str] = field(default_factory=dict)
    # Set: a local collector (tools/collector.py) stores every process's spans there.
    traces_file: Path | None = None
    collector_port: int = DEFAULT_COLLECTOR_PORT

    def url(self, service: str, path: str = "/graphql") -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def metrics_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.metrics_ports[service]}/metrics"

    def worker_url(self, subgraph: str, path: str = "/readyz") -> str:
        return f"http://127.0.0.1:{self.worker_ports[subgraph]}{path}"

    def worker_metrics_url(self, subgraph: str) -> str:
        return f"http://127.0.0.1:{self.worker_metrics_ports[subgraph]}/metrics"

    def tracing_env(self) -> dict[str, str]:
        if self.traces_file is None:
            return {}
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.collector_port}"}

    def subgraph_env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.tracing_env(),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "REDIS_PREFIX": self.redis_prefix,
            "JWT_PRIVATE_KEY_FILE": str(self.jwt_private_key_file),
            "JWKS_URL": self.url("users", "/.well-known/jwks.json"),
            "PYTHONPATH": str(REPO_ROOT),
            **self.env,
        }

    def router_env(self) -> dict[str, str]:
        subgraph_urls = {f"SUBGRAPH_{name.upper()}_URL": self.url(name) for name in SUBGRAPHS}
        return {
            **os.environ,
            **subgraph_urls,
            **self.tracing_env(),
            "ROUTER_PORT": str(self.ports["router"]),
            "ROUTER_HOST": "127.0.0.1",
            "METRICS_PORT": str(self.metrics_ports["router"]),
            "JWKS_URL": self.url("users", "/.well-known/jwks.json"),
            # Rate limits per client address are counted in Redis (router/ratelimit.ts).
            "REDIS_URL": self.redis_url,
            "REDIS_PREFIX": self.redis_prefix,
            "LOG_JSON": "1",
            "NODE_OPTIONS": " ".join(
                filter(None, (ROUTER_NODE_OPTIONS, os.environ.get("NODE_OPTIONS")))
            ),
            **self.env,
            # The gateway only knows lowercase level names.
            "LOG_LEVEL": self.env.get("LOG_LEVEL", os.environ.get("LOG_LEVEL", "info")).lower(),
        }


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    ready_url: str
    log_file: Path | None

    def log_tail(self, lines: int = 40) -> str:
        if self.log_file is None or not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.processes: list[Process] = []

    def _spawn(
        self, name: str, args: list[str], cwd: Path, env: dict[str, str], ready: str
    ) -> Process:
        log_file = None
        output: IO[bytes] | None = None
        if self.config.log_dir is not None:
            self.config.log_dir.mkdir(parents=True, exist_ok=True)
            log_file = self.config.log_dir / f"{name}.log"
            output = log_file.open("ab")
        popen = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT if output else None
        )
        process = Process(name, popen, ready, log_file)
        self.processes.append(process)
        return process

    def start_subgraph(
        self,
        name: str,
        port: int | None = None,
        replica: str = "",
        metrics_port: int | None = None,
        role: ProcessRole = "all",
    ) -> Process:
        """The subgraph's main process by default; a replica on the ports given. `role`
        (PROCESS_ROLE): "all" serves requests and runs the background jobs too."""
        if port is None:
            port, metrics_port = self.config.ports[name], self.config.metrics_ports[name]
        niceness = ["nice", "-n", str(WORKER_NICENESS)] if role == "worker" else []
        args = [
            *niceness, sys.executable, "-m", "uvicorn", f"subgraphs.{name}.app:app",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
            "--ws-ping-interval", "20",
            # Longer than the router keeps an idle connection: otherwise uvicorn may close
            # one (after its default 5 s) just as the router sends a request on it, and the
            # router answers "socket hang up".
            "--timeout-keep-alive", "75",
        ]  # fmt: skip
        env = {
            **self.config.subgraph_env(),
            "METRICS_PORT": str(metrics_port or free_port()),
            "PROCESS_ROLE": role,
        }
        return self._spawn(
            f"{name}{replica}", args, REPO_ROOT, env, f"http://127.0.0.1:{port}/readyz"
        )

    def start_worker(self, name: str) -> Process:
        """The subgraph's worker: its background jobs, apart from its requests."""
        port, metrics_port = self.config.worker_ports[name], self.config.worker_metrics_ports[name]
        return self.start_subgraph(
            name, port=port, replica="-worker", metrics_port=metrics_port, role="worker"
        )

    def start_router(self) -> Process:
        args = [
            str(ROUTER_DIR / "node_modules" / ".bin" / "hive-gateway"),
            "supergraph", str(SUPERGRAPH_FILE), "-c", "gateway.config.ts",
        ]  # fmt: skip
        return self._spawn(
            "router",
            args,
            ROUTER_DIR,
            self.config.router_env(),
            self.config.url("router", "/readiness"),
        )

    def start_collector(self) -> Process:
        assert self.config.traces_file is not None
        port = self.config.collector_port
        args = [
            sys.executable, "-m", "uvicorn", "tools.collector:app",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        env = {**os.environ, "TRACES_FILE": str(self.config.traces_file)}
        return self._spawn("collector", args, REPO_ROOT, env, f"http://127.0.0.1:{port}/healthz")

    def start(self) -> None:
        """The collector, the subgraphs and their workers (the router reads the users
        subgraph's JWKS), then the router."""
        if self.config.traces_file is not None:
            self.start_collector()
        for name in SUBGRAPHS:
            self.start_subgraph(name, role="api")
        for name in WITH_WORKERS:
            self.start_worker(name)
        self.wait_ready()
        self.start_router()
        self.wait_ready()

    def wait_ready(self, timeout: float = 360.0) -> None:
        # Generous: on a shared, loaded 2-core machine four subgraphs starting together
        # take minutes to import and migrate; a stack that never comes up still fails.
        deadline = time.monotonic() + timeout
        for process in self.processes:
            while True:
                if process.popen.poll() is not None:
                    status = process.popen.returncode
                    raise RuntimeError(f"{process.name} exited with {status}\n{process.log_tail()}")
                try:
                    if httpx.get(process.ready_url, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{process.name} not ready\n{process.log_tail()}")
                time.sleep(0.1)

    def stop_process(self, process: Process, timeout: float = 10.0) -> None:
        if process.popen.poll() is None:
            process.popen.terminate()
            try:
                process.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()
        self.processes.remove(process)

    def stop(self) -> None:
        for process in reversed(list(self.processes)):
            self.stop_process(process)
