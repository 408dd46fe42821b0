"""The machine's own PostgreSQL and Redis, started when they are not up (CI and `make test`)."""

import glob
import os
import socket
import subprocess
import time


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait(port: int, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not _listening(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start listening on port {port}")
        time.sleep(0.2)


def ensure_machine_services() -> None:
    if not _listening(5432):
        versions = sorted(os.path.basename(path) for path in glob.glob("/etc/postgresql/*"))
        if not versions:
            raise RuntimeError("PostgreSQL is not running and not installed; set DATABASE_URL")
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
            check=True,
        )
        _wait(5432, "PostgreSQL")
    if not _listening(6379):
        subprocess.run(
            ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379",
             "--save", "", "--appendonly", "no"],
            check=True,
        )  # fmt: skip
        _wait(6379, "Redis")
