"""Schema files from code: each subgraph's SDL, and the composed supergraph.

`supergraph.yaml` lists the subgraphs; each one's SDL comes from its Strawberry
schema (no server needed) and the composition runs in Node (router/compose.mjs).
"""

import importlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from shared.settings import REPO_ROOT

SUPERGRAPH_CONFIG = REPO_ROOT / "supergraph.yaml"
SUPERGRAPH_FILE = REPO_ROOT / "schema" / "supergraph.graphql"


class CompositionError(RuntimeError):
    pass


@dataclass(frozen=True)
class SubgraphEntry:
    name: str
    routing_url: str
    schema_file: Path

    def sdl(self) -> str:
        module = importlib.import_module(f"subgraphs.{self.name}.schema")
        return str(module.schema.as_str()) + "\n"


def subgraph_entries() -> list[SubgraphEntry]:
    config = yaml.safe_load(SUPERGRAPH_CONFIG.read_text())
    return [
        SubgraphEntry(name, entry["routing_url"], REPO_ROOT / entry["schema"]["file"])
        for name, entry in config["subgraphs"].items()
    ]


def _write(path: Path, content: str, check: bool) -> list[str]:
    """Writes `content` unless checking; returns the path when it differed."""
    current = path.read_text() if path.exists() else None
    if current == content:
        return []
    if not check:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return [str(path.relative_to(REPO_ROOT))]


def export_all(check: bool = False) -> list[str]:
    return [
        stale
        for entry in subgraph_entries()
        for stale in _write(entry.schema_file, entry.sdl(), check)
    ]


def compose_supergraph() -> str:
    return compose_sdls(
        [
            {"name": entry.name, "url": entry.routing_url, "sdl": entry.sdl()}
            for entry in subgraph_entries()
        ]
    )


def compose_sdls(subgraphs: list[dict[str, str]]) -> str:
    """The supergraph of these subgraphs, or CompositionError with the composer's messages."""
    result = subprocess.run(
        ["node", "compose.mjs"],
        cwd=REPO_ROOT / "router",
        input=json.dumps({"subgraphs": subgraphs}),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise CompositionError(f"composition failed:\n{result.stderr}")
    return result.stdout


def compose(check: bool = False) -> list[str]:
    return _write(SUPERGRAPH_FILE, compose_supergraph(), check)
