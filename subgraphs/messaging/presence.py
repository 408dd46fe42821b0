"""Who is watching a conversation right now (a live `conversationEvents` subscription),
so that a message becomes a notification only for the others.

One Redis sorted set per conversation: member = user id, score = when the entry
lapses. A subscription renews its entry every `RENEW_SECONDS` and removes it when it
ends; a process that dies leaves entries that lapse after `TTL_SECONDS`. Any replica
reads the same set.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress

from redis.asyncio import Redis
from redis.exceptions import RedisError

TTL_SECONDS = 60.0
RENEW_SECONDS = 20.0


def _key(prefix: str, conversation_id: uuid.UUID) -> str:
    return f"{prefix}:chat-presence:{conversation_id}"


@asynccontextmanager
async def watching(
    redis: Redis, prefix: str, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> AsyncIterator[None]:
    """Marks the person present in the conversation for as long as the block runs."""
    key, member = _key(prefix, conversation_id), str(user_id)

    async def renew() -> None:
        while True:
            with suppress(RedisError, OSError):  # best effort: at worst, one notification more
                async with redis.pipeline(transaction=True) as pipe:
                    pipe.zadd(key, {member: time.time() + TTL_SECONDS})
                    pipe.zremrangebyscore(key, "-inf", time.time())
                    pipe.expire(key, int(TTL_SECONDS) * 2)
                    await pipe.execute()
            await asyncio.sleep(RENEW_SECONDS)

    # Tied to the subscription: started with it, cancelled when it ends.
    renewing = asyncio.create_task(renew())
    try:
        yield
    finally:
        renewing.cancel()
        with suppress(RedisError, OSError, asyncio.CancelledError):
            await redis.zrem(key, member)


async def absent(
    redis: Redis, prefix: str, conversation_id: uuid.UUID, user_ids: Iterable[uuid.UUID]
) -> list[uuid.UUID]:
    """Those of `user_ids` not watching the conversation now."""
    try:
        present = set(await redis.zrangebyscore(_key(prefix, conversation_id), time.time(), "+inf"))
    except (RedisError, OSError):
        present = set()
    return [user_id for user_id in user_ids if str(user_id) not in present]
