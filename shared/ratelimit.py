"""Fixed-window rate limits kept in Redis, so they hold across every replica.

Hive Gateway's rate limiting plugin limits operations at the router, but it sees
operations, not what a mutation's arguments mean (messages per sender per
conversation); a subgraph that must limit a domain action calls `hit` itself. The API
is one function, so every limit in the project shares it.
"""

import time

from redis.asyncio import Redis

from shared.errors import ClientError


class RateLimited(ClientError):
    """Answered as `RATE_LIMITED` with `extensions.retryAfter`, whole seconds."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retryAfter=retry_after)


async def hit(redis: Redis, key: str, limit: int, window: float) -> int | None:
    """Counts one action against `key`: None while at most `limit` actions fell in the
    current window of `window` seconds, else the whole seconds until it ends."""
    window_ms = max(1, int(window * 1000))
    bucket = int(time.time() * 1000) // window_ms
    full_key = f"{key}:{bucket}"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(full_key)
        pipe.pexpire(full_key, window_ms + 1000)
        count, _ = await pipe.execute()
    if int(count) <= limit:
        return None
    ends_ms = (bucket + 1) * window_ms - int(time.time() * 1000)
    return max(1, -(-ends_ms // 1000))
