"""infra/k8s renders, validates against the Kubernetes schemas, passes checkov, and says what
the issue asks: probes on the real endpoints, non-root read-only containers, autoscaling,
disruption budgets, migrations before new pods, and subgraph ports reachable only by the
router (and Prometheus)."""

import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from shared.settings import REPO_ROOT
from tests.support.environment import StackEnvironment
from tools.stack import SUBGRAPHS, WITH_WORKERS, Stack

K8S_DIR = REPO_ROOT / "infra" / "k8s"
OVERLAYS = ("dev", "prod")
BIN = Path(sys.executable).parent
CHECKOV = REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov"
WORKERS = {f"{name}-subgraph-worker": name for name in WITH_WORKERS}

Manifest = dict[str, Any]


@cache
def rendered(overlay: str) -> str:
    result = subprocess.run(
        [str(BIN / "kubectl"), "kustomize", str(K8S_DIR / "overlays" / overlay)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def manifests(overlay: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(rendered(overlay)) if doc]


def of_kind(overlay: str, kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests(overlay) if m["kind"] == kind}


def pod_specs(overlay: str) -> Iterator[tuple[str, Manifest]]:
    for manifest in manifests(overlay):
        if manifest["kind"] in ("Deployment", "Job"):
            yield manifest["metadata"]["name"], manifest["spec"]["template"]


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_overlays_validate_against_the_kubernetes_schemas(overlay: str, tmp_path: Path) -> None:
    path = tmp_path / f"{overlay}.yaml"
    path.write_text(rendered(overlay))
    result = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "--quiet", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_finds_nothing_in_the_manifests_or_the_images(tmp_path: Path) -> None:
    files = []
    for overlay in OVERLAYS:
        path = tmp_path / f"{overlay}.yaml"
        path.write_text(rendered(overlay))
        files += ["-f", str(path)]
    for dockerfile in sorted((REPO_ROOT / "infra" / "docker").glob("*.Dockerfile")):
        files += ["-f", str(dockerfile)]
    result = subprocess.run(
        [str(CHECKOV), "--config-file", str(K8S_DIR / ".checkov.yaml"), *files],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Passed checks" in result.stdout, result.stdout


def test_every_subgraph_and_the_router_run_scaled_and_budgeted(overlay: str) -> None:
    deployments = of_kind(overlay, "Deployment")
    expected = {f"{name}-subgraph" for name in SUBGRAPHS} | set(WORKERS) | {"router"}
    assert set(deployments) == expected
    autoscalers = of_kind(overlay, "HorizontalPodAutoscaler")
    budgets = of_kind(overlay, "PodDisruptionBudget")
    for name, deployment in deployments.items():
        assert autoscalers[name]["spec"]["scaleTargetRef"]["name"] == name
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        budget_selector = budgets[name]["spec"]["selector"]["matchLabels"]
        assert budget_selector.items() <= pod_labels.items()
        # The budget must select this Deployment's pods and no other's.
        for other, other_deployment in deployments.items():
            if other != name:
                other_labels = other_deployment["spec"]["template"]["metadata"]["labels"]
                assert not budget_selector.items() <= other_labels.items()


def test_probes_use_the_endpoints_the_processes_serve(
    overlay: str, environment: StackEnvironment, stack: Stack
) -> None:
    for name, deployment in of_kind(overlay, "Deployment").items():
        if name in WORKERS:
            base = environment.config.worker_url(WORKERS[name], "")
        else:
            base = environment.config.url(name.removesuffix("-subgraph"), "")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            path = container[probe]["httpGet"]["path"]
            response = httpx.get(base + path)
            assert response.status_code == 200, (name, probe, path, response.text)


def test_requests_and_background_jobs_run_in_deployments_of_their_own(overlay: str) -> None:
    """Each subgraph's Service reaches the pods serving requests, never its workers, and
    each pod runs in the role its Deployment is for (as `make dev` runs them)."""
    deployments = of_kind(overlay, "Deployment")
    services = of_kind(overlay, "Service")
    for name, deployment in deployments.items():
        if name == "router":
            continue
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        role = "worker" if name in WORKERS else "api"
        assert {"name": "PROCESS_ROLE", "value": role} in env, name
    for name in SUBGRAPHS:
        selector = services[f"{name}-subgraph"]["spec"]["selector"]
        pods = deployments[f"{name}-subgraph"]["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= pods.items(), name
        for worker in WORKERS:
            labels = deployments[worker]["spec"]["template"]["metadata"]["labels"]
            assert not selector.items() <= labels.items(), (name, worker)
    assert not {name for name in services if name.endswith("-worker")}


# router/gateway.config.ts: gracefulShutdownTimeout.
ROUTER_DRAIN_SECONDS = 20


def test_pods_leave_their_service_before_they_stop_and_drain_within_the_grace_period(
    overlay: str,
) -> None:
    for name, deployment in of_kind(overlay, "Deployment").items():
        spec = deployment["spec"]["template"]["spec"]
        [container] = spec["containers"]
        pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pause >= 3, name
        drain = ROUTER_DRAIN_SECONDS if name == "router" else 0
        assert pause + drain < spec["terminationGracePeriodSeconds"], name


def test_containers_are_unprivileged_read_only_and_sized(overlay: str) -> None:
    for name, template in pod_specs(overlay):
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] >= 10000, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec.get("initContainers", []) + spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            resources = container["resources"]
            assert {"cpu", "memory"} <= resources["requests"].keys(), name
            assert {"cpu", "memory"} <= resources["limits"].keys(), name


def test_the_router_may_hold_what_it_measures_under_load(overlay: str) -> None:
    # 656 MiB resident after a sustained load with the image's young generation
    # (docs/benchmarks.md, fourth round).
    router = of_kind(overlay, "Deployment")["router"]["spec"]["template"]["spec"]
    limit = router["containers"][0]["resources"]["limits"]["memory"]
    assert limit.endswith(("Mi", "Gi")), limit
    assert int(limit[:-2]) * (1024 if limit.endswith("Gi") else 1) >= 1024


def test_migrations_run_in_a_job_that_new_subgraph_pods_wait_for(overlay: str) -> None:
    job = of_kind(overlay, "Job")["migrate"]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][-1] == "migrate"
    for deployment, name in {**{f"{n}-subgraph": n for n in SUBGRAPHS}, **WORKERS}.items():
        spec = of_kind(overlay, "Deployment")[deployment]["spec"]["template"]["spec"]
        waiting = spec["initContainers"][0]
        assert "tools migrated --wait" in " ".join(waiting["command"])
        assert {"name": "SUBGRAPH", "value": name} in waiting["env"]
        assert {"name": "SUBGRAPH", "value": name} in spec["containers"][0]["env"]


def test_urls_and_keys_come_from_secrets_mounted_as_files(overlay: str) -> None:
    config = next(iter(of_kind(overlay, "ConfigMap").values()))
    for _, template in pod_specs(overlay):
        for container in template["spec"]["containers"]:
            names = {entry["name"] for entry in container.get("env", [])}
            assert not names & {"DATABASE_URL", "REDIS_URL"}
    assert "DATABASE_URL" not in str(config)
    users = of_kind(overlay, "Deployment")["users-subgraph"]["spec"]["template"]["spec"]
    assert {v["secret"]["secretName"] for v in users["volumes"] if "secret" in v} == {
        "meetinity-secrets",
        "meetinity-jwt",
    }


def _selects(selector: Manifest, labels: dict[str, str]) -> bool:
    return dict(selector.get("matchLabels", {})).items() <= labels.items()


def _ingress_allowed(
    policies: list[Manifest], source: dict[str, str], target: Manifest, port: str
) -> bool:
    """Whether a pod labelled `source` (same namespace) may reach `target`'s named port."""
    labels = target["metadata"]["labels"]
    selecting = [p for p in policies if _selects(p["spec"]["podSelector"], labels)]
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            ports = {entry["port"] for entry in rule.get("ports", [])}
            if ports and port not in ports:
                continue
            peers = rule.get("from")
            if peers is None or any(
                "namespaceSelector" not in peer and _selects(peer["podSelector"], source)
                for peer in peers
            ):
                return True
    return not selecting


def test_only_the_router_reaches_subgraph_ports(overlay: str) -> None:
    policies = list(of_kind(overlay, "NetworkPolicy").values())
    pods = {name: template for name, template in pod_specs(overlay)}
    internet = {"app.kubernetes.io/name": "ingress-controller"}
    for name in SUBGRAPHS:
        target = pods[f"{name}-subgraph"]
        assert _ingress_allowed(policies, pods["router"]["metadata"]["labels"], target, "http")
        assert not _ingress_allowed(policies, internet, target, "http")
        assert not _ingress_allowed(policies, pods["migrate"]["metadata"]["labels"], target, "http")
        assert not _ingress_allowed(
            policies, pods["router"]["metadata"]["labels"], target, "metrics"
        )
        for other in SUBGRAPHS:
            # Subgraphs verify tokens themselves, with the users subgraph's JWKS.
            allowed = _ingress_allowed(
                policies, pods[f"{other}-subgraph"]["metadata"]["labels"], target, "http"
            )
            assert allowed == (name == "users"), (other, name)
    for worker in WORKERS:
        # Nothing calls a worker; Prometheus scrapes its metrics port.
        for source in ("router", "users-subgraph", "events-subgraph"):
            labels = pods[source]["metadata"]["labels"]
            assert not _ingress_allowed(policies, labels, pods[worker], "http"), (source, worker)
        assert not _ingress_allowed(policies, internet, pods[worker], "http")
    assert _ingress_allowed(policies, internet, pods["router"], "http")
    assert not _ingress_allowed(policies, internet, pods["router"], "metrics")


def test_prometheus_alone_scrapes_the_metrics_ports(overlay: str) -> None:
    policy = of_kind(overlay, "NetworkPolicy")["metrics-from-prometheus"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    (peer,) = rule["from"]
    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
    for name, template in pod_specs(overlay):
        if name != "migrate":
            assert _selects(policy["spec"]["podSelector"], template["metadata"]["labels"])
