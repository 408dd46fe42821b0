"""What the benchmarks share: a private stack like the tests', and latency statistics."""

import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.environment import (
    StackEnvironment,
    create_environment,
    destroy_environment,
    running_stack,
)
from tools.stack import Stack


@contextmanager
def private_stack(traced: bool = False) -> Iterator[tuple[StackEnvironment, Stack]]:
    with tempfile.TemporaryDirectory() as tmp:
        environment = create_environment(Path(tmp), traced)
        try:
            for stack in running_stack(environment):
                yield environment, stack
        finally:
            destroy_environment(environment)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary_ms(samples: list[float]) -> tuple[float, float]:
    """Median and p99, in milliseconds, of samples in seconds."""
    return statistics.median(samples) * 1000, percentile(samples, 0.99) * 1000
