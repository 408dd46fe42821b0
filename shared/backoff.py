"""Exponential backoff for the loops that must outlive an outage of Redis or PostgreSQL."""

import asyncio


class Backoff:
    def __init__(self, first_seconds: float = 0.1, ceiling_seconds: float = 5.0) -> None:
        self._first = first_seconds
        self._ceiling = ceiling_seconds
        self.delay = first_seconds

    def reset(self) -> None:
        """After a success: the next failure waits the shortest time again."""
        self.delay = self._first

    async def sleep(self) -> None:
        """Waits `delay`, then doubles it (up to the ceiling) for the next failure."""
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, self._ceiling)
