"""JSON logs on stdout, each line carrying the service, request id, trace and span ids
and, once authenticated, the user id.

The trace and span come from the active OpenTelemetry span when tracing is on (so a
log line leads to its span and back), else from the client's `traceparent`. The
router forwards `x-request-id` and `traceparent`, so one request can be followed
across the router and every subgraph by grepping either id.
"""

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from shared.telemetry import current_ids

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
trace_id_var: ContextVar[str | None] = ContextVar("trace_id", default=None)
user_id_var: ContextVar[str | None] = ContextVar("user_id", default=None)

_service_name = "meetinity"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": _service_name,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if request_id := request_id_var.get():
            entry["request_id"] = request_id
        if ids := current_ids():
            entry["trace_id"], entry["span_id"] = ids
        elif trace_id := trace_id_var.get():
            entry["trace_id"] = trace_id
        if user_id := user_id_var.get():
            entry["user_id"] = user_id
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str = "INFO", as_json: bool = True) -> None:
    global _service_name
    _service_name = service
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter() if as_json else logging.Formatter("%(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log repeats what our request middleware already logs as JSON.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def trace_id_from_traceparent(traceparent: str | None) -> str | None:
    """The trace id of a W3C `traceparent` header (version-traceid-spanid-flags)."""
    if not traceparent:
        return None
    parts = traceparent.split("-")
    if len(parts) == 4 and len(parts[1]) == 32:
        return parts[1]
    return None


def describe(error: BaseException) -> str:
    """An exception as a log field: redis-py's repr() drops the message."""
    return f"{type(error).__name__}: {error}"
