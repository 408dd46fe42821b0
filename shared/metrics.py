"""Prometheus counters, histograms and gauges every subgraph updates as things happen.

They are served on an internal port (`METRICS_PORT`), with the state read at scrape
time (`shared.state_metrics`).
"""

import re
import threading

from prometheus_client import Counter, Gauge, Histogram

http_requests = Counter(
    "meetinity_http_requests_total",
    "HTTP requests served, and WebSocket sessions (method WS), by route template",
    ["service", "method", "path", "status"],
)
http_request_seconds = Histogram(
    "meetinity_http_request_duration_seconds",
    "HTTP request latency, by route template",
    ["service", "method", "path"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
graphql_operations = Counter(
    "meetinity_graphql_operations_total",
    "GraphQL operations executed, by operation name and type",
    ["service", "operation", "type"],
)
graphql_errors = Counter(
    "meetinity_graphql_errors_total",
    "GraphQL errors returned, by operation name and extensions.code",
    ["service", "operation", "code"],
)
# Statements run while serving a request, apart from background work (outbox relay,
# consumers): the N+1 tests read this to prove the count does not grow with N.
db_statements = Counter(
    "meetinity_db_statements_total",
    "SQL statements sent to PostgreSQL",
    ["service", "origin"],
)
domain_events_published = Counter(
    "meetinity_domain_events_published_total",
    "Domain events relayed from the outbox to the Redis stream",
    ["service", "type"],
)
domain_events_consumed = Counter(
    "meetinity_domain_events_consumed_total",
    "Domain events handled by a stream consumer",
    ["service", "consumer", "type"],
)
job_restarts = Counter(
    "meetinity_background_job_restarts_total",
    "Times a background job failed and was restarted by its supervisor",
    ["service", "job"],
)
job_up = Gauge(
    "meetinity_background_job_up",
    "1 while a background job runs, 0 while it waits to be restarted or is stopped",
    ["service", "job"],
)
job_heartbeat = Gauge(
    "meetinity_background_job_heartbeat_timestamp_seconds",
    "When a background job last reported progress (Unix time)",
    ["service", "job"],
)
domain_events_dead_lettered = Counter(
    "meetinity_domain_events_dead_lettered_total",
    "Domain events a consumer gave up on and moved to the dead-letter stream",
    ["service", "consumer", "reason"],
)
domain_events_trimmed = Counter(
    "meetinity_domain_events_trimmed_total",
    "Entries a consumer got back after the stream had trimmed them (acknowledged, skipped)",
    ["service", "consumer"],
)
retention_removed = Counter(
    "meetinity_retention_removed_total",
    "What the retention chores removed: published outbox rows, stream entries older than"
    " the retention, ids of events applied long ago",
    ["service", "what"],
)
live_subscriptions = Gauge(
    "meetinity_live_subscriptions",
    "GraphQL subscriptions this process is serving now",
    ["service"],
)

# Operation names come from clients: only well-formed names become label values, and
# only so many, so that a client cannot create series without bound.
_OPERATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_OPERATION_NAMES = 500
_operation_names: set[str] = set()
_operation_names_lock = threading.Lock()


def operation_label(name: str | None) -> str:
    """The `operation` label for an operation name: "anonymous", the name, or "other"."""
    if not name:
        return "anonymous"
    if not _OPERATION_NAME.fullmatch(name):
        return "other"
    with _operation_names_lock:
        if name in _operation_names:
            return name
        if len(_operation_names) >= MAX_OPERATION_NAMES:
            return "other"
        _operation_names.add(name)
        return name


live_updates_dropped = Counter(
    "meetinity_live_updates_dropped_total",
    "Live updates a subscriber did not get: droppable ones shed from a full queue, and "
    "subscribers closed for falling too far behind",
    ["reason"],
)
