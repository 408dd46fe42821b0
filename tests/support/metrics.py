"""Reads a subgraph's Prometheus counters, to count the SQL statements a request costs."""

import httpx
from prometheus_client.parser import text_string_to_metric_families


async def sql_statements(base_url: str, service: str) -> float:
    """Statements the service has run while serving requests (background work excluded)."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{base_url}/metrics")).text
    for family in text_string_to_metric_families(text):
        if family.name == "meetinity_db_statements":
            for sample in family.samples:
                labels = sample.labels
                if (
                    sample.name.endswith("_total")
                    and labels.get("service") == service
                    and labels.get("origin") == "request"
                ):
                    return sample.value
    return 0.0


def counter_value(name: str, *label_values: str) -> float:
    """A counter of this process's own registry (tests of shared code run in-process)."""
    from prometheus_client import REGISTRY

    family = name.removesuffix("_total")
    for metric in REGISTRY.collect():
        if metric.name == family:
            for sample in metric.samples:
                if sample.name == name and tuple(sample.labels.values()) == label_values:
                    return sample.value
    return 0.0
