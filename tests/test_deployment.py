"""docker-compose.yml describes the same stack as `make dev`, valid per the Compose spec."""

import subprocess
import sys
from pathlib import Path

import yaml

from shared.settings import REPO_ROOT

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
