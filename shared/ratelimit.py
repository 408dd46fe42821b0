"""Rate limits shared by every replica: fixed windows counted in Redis.

One limiter for every subgraph (the users subgraph limits log-ins, sign-ups and token
refreshes per account; other subgraphs limit what they need with the same class). A limit
is a name, a number of hits and a window; `hit` counts one (or more) against a key (an
email, a user id) and raises `RateLimited`, whose `extensions.retryAfter` is the whole
seconds until that key's window ends, when the count goes over. The router limits per
client address with the same algorithm (router/ratelimit.ts).

Why not a library: the usual Python limiters (`limits`, `slowapi`) are built around
HTTP routes and a synchronous or separate Redis client, and would not count a GraphQL
field against an account. The counting is one Lua script (INCRBY, PEXPIRE when the
window starts, PTTL): atomic, so replicas and concurrent requests never both pass the
last slot. A fixed window lets a client burst up to twice the limit across a window's
edge; for abuse limits that is acceptable and keeps one key per client.

When Redis cannot be reached, limits are not enforced (logged): an outage of the
limiter must not lock everyone out of signing in.
"""

import logging
import math
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.errors import RateLimited

log = logging.getLogger(__name__)

# KEYS[1]: the counter; ARGV[1]: hits to add; ARGV[2]: the window in milliseconds.
# Returns {count after adding, milliseconds left in the window}.
_HIT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
if count == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
return {count, ttl}
"""


@dataclass(frozen=True)
class Limit:
    """At most `hits` per `window_seconds` for each key."""

    name: str
    hits: int
    window_seconds: int


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._hit = redis.register_script(_HIT)

    def _key(self, limit: Limit, key: str) -> str:
        return f"{self._prefix}:ratelimit:{limit.name}:{key}"

    async def hit(self, limit: Limit, key: str, hits: int = 1) -> None:
        """Counts `hits` against `key`; raises RateLimited once over the limit."""
        try:
            count, ttl_ms = await self._hit(
                keys=[self._key(limit, key)], args=[hits, limit.window_seconds * 1000]
            )
        except RedisError as exc:
            log.warning(
                "rate limit not enforced: Redis unavailable",
                extra={"fields": {"limit": limit.name, "error": str(exc)}},
            )
            return
        if int(count) > limit.hits:
            raise RateLimited(retry_after=max(1, math.ceil(int(ttl_ms) / 1000)))

    async def check(self, limit: Limit, key: str) -> None:
        """Raises RateLimited when `key` is already over the limit, without counting."""
        name = self._key(limit, key)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(name)
                pipe.pttl(name)
                count, ttl_ms = await pipe.execute()
        except RedisError as exc:
            log.warning(
                "rate limit not enforced: Redis unavailable",
                extra={"fields": {"limit": limit.name, "error": str(exc)}},
            )
            return
        if count is not None and int(count) >= limit.hits:
            raise RateLimited(retry_after=max(1, math.ceil(max(int(ttl_ms), 0) / 1000)))
