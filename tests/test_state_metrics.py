"""The scrape-time gauges (shared/state_metrics.py): read on the app's loop at each
scrape, and never while the collector is being registered, on that same loop."""

import asyncio
from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily

from shared.state_metrics import Families, StateCollector


async def test_registering_the_collector_does_not_wait_for_a_scrape() -> None:
    reads = 0

    async def reader() -> Families:
        nonlocal reads
        reads += 1
        gauge = GaugeMetricFamily("meetinity_test_gauge", "a test gauge", labels=["service"])
        gauge.add_metric(["test"], 1.0)
        return [gauge]

    collector = StateCollector(asyncio.get_running_loop(), [reader])
    scrapes = 0
    collect = collector.collect

    def counted_collect() -> Iterable[GaugeMetricFamily]:
        nonlocal scrapes
        scrapes += 1
        return collect()

    collector.collect = counted_collect  # type: ignore[method-assign]
    collector.timeout_seconds = 0.5
    # Registered from the loop itself, as at start-up: a scrape handed to this loop could
    # only time out (the loop is busy registering), so none may be asked for.
    registry = CollectorRegistry(auto_describe=True)  # as the default REGISTRY
    registry.register(collector)
    assert scrapes == 0

    # A scrape, from another thread as prometheus_client serves it, reads the state.
    families = await asyncio.to_thread(lambda: list(registry.collect()))
    assert [family.name for family in families] == ["meetinity_test_gauge"]
    assert (scrapes, reads) == (1, 1)
