"""Every Redis client of the project is made here, so none goes without timeouts.

A Redis that refuses connections fails fast by itself; one that accepts them and then
stops answering (a frozen process, a black-holed network path) would hold every call
until the kernel's TCP timeout, with whatever the caller holds meanwhile (a database
connection, a request). So each client has:

- a connect timeout and a socket (read) timeout (`REDIS_CONNECT_TIMEOUT_SECONDS`,
  `REDIS_SOCKET_TIMEOUT_SECONDS`); the socket timeout exceeds the 1 s stream consumers
  block in XREADGROUP;
- a health check: a connection idle for `REDIS_HEALTH_CHECK_SECONDS` is PINGed before
  it is used again, so a connection Redis dropped while idle is replaced before a
  command is lost on it (and the live-updates listener uses the same PINGs to notice a
  Redis that stopped answering, `shared.pubsub`);
- TCP keepalive;
- one quick retry, on a lost connection only (a pooled connection Redis closed while
  it was restarting). A timeout is not retried: Redis did not answer in time, and
  asking again would only double the wait.
"""

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.settings import Settings, get_settings


def redis_client(
    settings: Settings | None = None, *, url: str | None = None, decode_responses: bool = True
) -> Redis:
    """A client of `url` (default: `REDIS_URL`) with the timeouts of `settings`."""
    settings = settings or get_settings()
    return Redis.from_url(
        url or settings.redis_url,
        decode_responses=decode_responses,
        socket_connect_timeout=settings.redis_connect_timeout_seconds,
        socket_timeout=settings.redis_socket_timeout_seconds,
        health_check_interval=settings.redis_health_check_seconds,
        socket_keepalive=True,
        retry=Retry(
            ExponentialWithJitterBackoff(base=0.05, cap=0.5),
            retries=1,
            supported_errors=(RedisConnectionError,),
        ),
    )
