"""Reads a process's Prometheus metrics from its internal metrics port."""

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tools.stack import StackConfig


async def samples(config: StackConfig, service: str) -> list[Sample]:
    async with httpx.AsyncClient() as client:
        response = await client.get(config.metrics_url(service))
    response.raise_for_status()
    return [
        sample
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def value(found: list[Sample], name: str, **labels: str) -> float | None:
    """The value of the sample with this name and (at least) these labels, if any."""
    for sample in found:
        if sample.name == name and labels.items() <= sample.labels.items():
            return sample.value
    return None


async def sql_statements(config: StackConfig, service: str) -> float:
    """Statements the service has run while serving requests (background work excluded)."""
    found = await samples(config, service)
    counted = value(found, "meetinity_db_statements_total", service=service, origin="request")
    return counted or 0.0


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
