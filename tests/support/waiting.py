"""Waiting for what happens asynchronously (streams, consumers, pushes), with a deadline."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(
    check: Callable[[], Awaitable[Any]], what: str, within: float = 15.0, every: float = 0.05
) -> Any:
    """The first truthy result of `check`, polled until `within` seconds have passed."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {within} s for {what}")
        await asyncio.sleep(every)
