"""Prometheus metrics every subgraph exposes on `/metrics`."""

from prometheus_client import Counter, Histogram

http_requests = Counter(
    "meetinity_http_requests_total",
    "HTTP requests served",
    ["service", "method", "path", "status"],
)
http_request_seconds = Histogram(
    "meetinity_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "path"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
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
