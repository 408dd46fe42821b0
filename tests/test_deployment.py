"""docker-compose.yml describes the same stack as `make dev`; deployment helpers work."""

import asyncio
import os
import re
import subprocess
import sys
import uuid
from fnmatch import fnmatch
from pathlib import Path

import yaml

from shared.settings import REPO_ROOT
from tests.support.environment import database_url, run_as_admin
from tools.stack import ROUTER_NODE_OPTIONS, SUBGRAPHS, WITH_WORKERS

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"


def test_compose_file_validates_against_the_compose_specification() -> None:
    check = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(check), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_every_service_from_dockerfiles_in_the_repository() -> None:
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    expected = {
        "postgres",
        "redis",
        "migrate",
        "users",
        "events",
        "matching",
        "messaging",
        "router",
    }
    assert expected <= set(services)
    for name in ("users", "events", "matching", "messaging"):
        assert services[name]["build"]["args"]["SUBGRAPH"] == name
    for name in ("users", "events", "matching", "messaging", "router", "migrate"):
        assert (REPO_ROOT / services[name]["build"]["dockerfile"]).is_file()


def test_compose_runs_background_jobs_in_workers_as_make_dev_does() -> None:
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    for name in SUBGRAPHS:
        assert services[name]["environment"]["PROCESS_ROLE"] == "api"
    workers = {name.removesuffix("-worker") for name in services if name.endswith("-worker")}
    assert workers == set(WITH_WORKERS)
    for name in WITH_WORKERS:
        worker = services[f"{name}-worker"]
        assert worker["build"]["args"]["SUBGRAPH"] == name
        assert worker["environment"]["PROCESS_ROLE"] == "worker"
        assert "networks" not in worker  # no alias: the router never calls a worker


def test_compose_scale_out_profile_runs_a_second_replica_under_each_subgraph_name() -> None:
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    for name in ("users", "events", "matching", "messaging"):
        replica = services[f"{name}-2"]
        assert replica["profiles"] == ["scale-out"]
        assert replica["build"]["args"]["SUBGRAPH"] == name
        assert replica["networks"]["default"]["aliases"] == [name]
        assert "profiles" not in services[name]


def test_settings_read_secrets_from_files_in_the_secrets_dir(tmp_path: Path) -> None:
    (tmp_path / "database_url").write_text("postgresql://from-a-file@db/meetinity")
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from shared.settings import Settings; print(Settings().database_url)",
        ],
        env={**environment, "SECRETS_DIR": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == "postgresql://from-a-file@db/meetinity", result.stderr


async def test_migrated_waits_for_pending_migrations_then_succeeds() -> None:
    name = f"meetinity_test_migrated_{uuid.uuid4().hex[:8]}"
    await run_as_admin(f'CREATE DATABASE "{name}"')
    environment = {**os.environ, "DATABASE_URL": database_url(name)}

    def tools(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tools", *args],
            env=environment,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )

    try:
        pending = await asyncio.to_thread(tools, "migrated", "users")
        assert pending.returncode == 1
        assert "migrations pending" in pending.stderr
        assert (await asyncio.to_thread(tools, "migrate", "users")).returncode == 0
        done = await asyncio.to_thread(tools, "migrated", "users", "--wait", "5")
        assert done.returncode == 0, done.stderr
    finally:
        await run_as_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


ROUTER_DOCKERFILE = REPO_ROOT / "infra" / "docker" / "router.Dockerfile"


def _local_imports(module: Path) -> set[Path]:
    """`module` and the router modules it imports, transitively (`from './x.ts'`)."""
    found = {module}
    for name in re.findall(r"from '\./([\w.-]+\.ts)'", module.read_text()):
        if (imported := module.parent / name) not in found:
            found |= _local_imports(imported)
    return found


def test_the_router_image_holds_every_module_its_configuration_imports() -> None:
    copied = [
        pattern
        for line in ROUTER_DOCKERFILE.read_text().splitlines()
        if line.startswith("COPY ") and "--from" not in line
        for pattern in line.split()[1:-1]
    ]
    modules = _local_imports(REPO_ROOT / "router" / "gateway.config.ts")
    assert len(modules) > 1
    missing = [
        str(module.relative_to(REPO_ROOT))
        for module in modules
        if not any(fnmatch(str(module.relative_to(REPO_ROOT)), pattern) for pattern in copied)
    ]
    assert missing == [], f"the router image would fail to start without {missing}"


def test_the_router_image_runs_node_with_the_options_the_stack_is_measured_with() -> None:
    dockerfile = ROUTER_DOCKERFILE.read_text()
    assert f"NODE_OPTIONS={ROUTER_NODE_OPTIONS}" in dockerfile
