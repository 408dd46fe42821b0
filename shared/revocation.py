"""Access tokens that stop working before they expire.

An access token is valid for 15 minutes wherever it is verified, and no subgraph asks
the users subgraph about it. When an account is suspended, changes role or is deleted,
the users subgraph records a "tokens valid after" time for that person in Redis; on
logout, one for that session (the refresh-token family, the token's `sid` claim).
Every subgraph checks both after verifying a token (`RequestContext.principal`): a
token issued before them is refused with UNAUTHENTICATED (reason TOKEN_REVOKED).

Each process caches what it read for `CACHE_SECONDS`, so a revocation takes effect
everywhere within about that long, for one Redis round trip per person and session per
interval. The records expire with the last token they could concern (the access token
lifetime plus the allowed clock skew). The users subgraph writes the record before it
commits the change, so a change never commits without it (if Redis is down the change
fails and is retried). If Redis cannot be read, tokens are accepted (logged): an outage
of Redis must not sign everyone out.
"""

import logging
import time
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.auth import CLOCK_SKEW_SECONDS, Principal
from shared.errors import Unauthenticated

log = logging.getLogger(__name__)

CACHE_SECONDS = 1.0
_MAX_CACHED = 50_000


class Revocations:
    def __init__(self, redis: Redis, prefix: str, access_token_ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = access_token_ttl_seconds + CLOCK_SKEW_SECONDS + 60
        self._cache: dict[str, tuple[float, float | None]] = {}

    def _user_key(self, user_id: uuid.UUID) -> str:
        return f"{self._prefix}:tokens-valid-after:user:{user_id}"

    def _session_key(self, session_id: str) -> str:
        return f"{self._prefix}:tokens-valid-after:session:{session_id}"

    async def revoke_user(self, user_id: uuid.UUID) -> None:
        """Every access token of this person issued until now stops working."""
        await self._redis.set(self._user_key(user_id), repr(time.time()), ex=self._ttl)

    async def revoke_session(self, session_id: uuid.UUID) -> None:
        """Every access token of this session (refresh-token family) stops working."""
        await self._redis.set(self._session_key(str(session_id)), repr(time.time()), ex=self._ttl)

    async def check(self, principal: Principal) -> None:
        """Raises Unauthenticated when the token was revoked after it was issued."""
        keys = [self._user_key(principal.user_id)]
        if principal.session_id:
            keys.append(self._session_key(principal.session_id))
        now = time.monotonic()
        missing = [
            key for key in keys if now - self._cache.get(key, (-1e9, None))[0] > CACHE_SECONDS
        ]
        if missing:
            try:
                values = await self._redis.mget(missing)
            except RedisError as exc:
                log.warning(
                    "token revocations not checked: Redis unavailable",
                    extra={"fields": {"error": str(exc)}},
                )
                return
            if len(self._cache) > _MAX_CACHED:
                self._cache.clear()
            for key, value in zip(missing, values, strict=True):
                self._cache[key] = (now, None if value is None else float(value))
        for key in keys:
            valid_after = self._cache[key][1]
            if valid_after is not None and principal.issued_at < valid_after:
                raise Unauthenticated("Access token was revoked", reason="TOKEN_REVOKED")
