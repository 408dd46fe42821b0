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
