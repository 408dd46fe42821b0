"""infra/observability: alert rules that promtool accepts and that fire on what they are
about, and a dashboard and rules that only name metrics the processes really expose."""

import json
import re
import shutil
import subprocess

import httpx

from shared.settings import REPO_ROOT
from tests.support.environment import StackEnvironment
from tests.support.graphql import GraphQLClient
from tests.support.users import sign_up
from tools.stack import WITH_WORKERS

OBSERVABILITY = REPO_ROOT / "infra" / "observability"
SERVICES = ("router", "users", "events", "matching", "messaging")
# Series names a query may use for a family of each type.
SUFFIXES = ("", "_total", "_created", "_bucket", "_count", "_sum")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("promtool")
    assert executable, "promtool is missing: `make install` installs Debian's prometheus package"
    return subprocess.run(
        [executable, *args], cwd=OBSERVABILITY, capture_output=True, text=True, check=False
    )


def test_promtool_accepts_the_alert_rules() -> None:
    result = promtool("check", "rules", "alerts.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_fire_on_what_they_are_about_per_promtool_unit_tests() -> None:
    result = promtool("test", "rules", "alerts.test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def _queries() -> list[str]:
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    queries = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    rules = (OBSERVABILITY / "alerts.yaml").read_text()
    return queries + re.findall(r"expr: (.*(?:\n {10,}.*)*)", rules)


def _metric_names(query: str) -> set[str]:
    return set(re.findall(r"\b((?:meetinity|graphql)_[a-z_]+)\b", query))


async def _exposed(environment: StackEnvironment) -> set[str]:
    names: set[str] = set()
    async with httpx.AsyncClient() as client:
        urls = [environment.config.metrics_url(service) for service in SERVICES] + [
            environment.config.worker_metrics_url(subgraph) for subgraph in WITH_WORKERS
        ]
        for url in urls:
            text = (await client.get(url)).text
            for line in text.splitlines():
                if line.startswith("# TYPE "):
                    family = line.split()[2]
                    names.update(family + suffix for suffix in SUFFIXES)
                elif line and not line.startswith("#"):
                    names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


async def test_dashboard_and_alerts_only_name_metrics_that_are_exposed(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    await sign_up(api, "Dashboard Reader")  # some traffic, so that labelled series exist
    exposed = await _exposed(environment)
    named = set().union(*(_metric_names(query) for query in _queries()))
    assert len(named) > 15
    assert named - exposed == set()


async def test_the_router_exposes_no_graphql_metric_that_nothing_reads(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    """Each histogram costs the router CPU on every request: only those an alert or the
    dashboard reads are on."""
    await sign_up(api, "Metrics Reader")
    async with httpx.AsyncClient() as client:
        text = (await client.get(environment.config.metrics_url("router"))).text
    families = {
        line.split()[2]
        for line in text.splitlines()
        if line.startswith("# TYPE ") and line.split()[2].startswith("graphql_")
    }
    named = set().union(*(_metric_names(query) for query in _queries()))
    unread = {f for f in families if not {f + suffix for suffix in SUFFIXES} & named}
    assert families and unread == set()


def test_dashboard_panels_have_unique_ids_and_a_prometheus_datasource() -> None:
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["type"] == "prometheus", panel["title"]
            assert panel["targets"], panel["title"]
