"""GraphQL errors the client is meant to see, each with `extensions.code`.

Anything else raised in a resolver is masked as an internal error and logged.
"""

from typing import Any

from graphql import GraphQLError


class ClientError(GraphQLError):
    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": self.code, **extensions})


class Unauthenticated(ClientError):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "Authentication required", **extensions: Any) -> None:
        super().__init__(message, **extensions)


class Forbidden(ClientError):
    code = "FORBIDDEN"

    def __init__(self, message: str = "Not allowed", **extensions: Any) -> None:
        super().__init__(message, **extensions)


class BadUserInput(ClientError):
    code = "BAD_USER_INPUT"


class NotFound(ClientError):
    code = "NOT_FOUND"


class Conflict(ClientError):
    code = "CONFLICT"


class RateLimited(ClientError):
    """Too many attempts; `extensions.retryAfter` is the whole seconds to wait."""

    code = "RATE_LIMITED"

    def __init__(self, retry_after: int, message: str = "") -> None:
        super().__init__(
            message or f"Too many attempts; retry in {retry_after} s", retryAfter=retry_after
        )


class ServiceUnavailable(ClientError):
    """Ours, and passing: retry after `extensions.retryAfter` seconds."""

    code = "SERVICE_UNAVAILABLE"


# PostgreSQL refuses the NUL character in text and in jsonb (SQLSTATEs 22021 and 22P05).
# A string holding one can only come from the client, so it is refused as the client's
# input wherever it reaches the database, rather than looked for in every resolver.
_UNSTORABLE_TEXT_SQLSTATES = frozenset({"22021", "22P05"})


def database_refusal(error: BaseException | None) -> ClientError | None:
    """The client error a failed statement stands for, if the statement failed on input
    no database could store (asyncpg's errors carry `sqlstate`; SQLAlchemy's wrap them as
    their cause)."""
    while error is not None:
        if getattr(error, "sqlstate", None) in _UNSTORABLE_TEXT_SQLSTATES:
            return BadUserInput("Text cannot contain the NUL character (U+0000)")
        error = error.__cause__
    return None


def _is_coercion_error(message: str) -> bool:
    """An input value GraphQL itself refused: a variable that is missing, of the wrong type
    or an unknown enum value, or a scalar its parser refused (in variables or literals)."""
    return message.startswith(("Variable '$", "Expected value of type")) or (
        "cannot represent" in message
    )


def is_client_error(error: GraphQLError) -> bool:
    """True for errors safe to show: ours, and GraphQL's own parse, validation and input
    coercion errors (an invalid `DateTime` raises ValueError in the scalar's parser before
    any resolver runs)."""
    original = error.original_error
    return (
        original is None
        or isinstance(original, ClientError)
        or (error.path is None and _is_coercion_error(error.message))
    )


def client_error_code(error: GraphQLError) -> str:
    """The `extensions.code` of a client error: its own, else what went wrong before
    execution: the document's syntax, its validity, its limits, or the input's values."""
    code = (error.extensions or {}).get("code")
    if isinstance(code, str):
        return code
    message = error.message
    if message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    # Strawberry's QueryDepthLimiter and MaxAliasesLimiter (shared/schema.py).
    if "exceeds maximum operation depth" in message:
        return "MAX_DEPTH_EXCEEDED"
    if " aliases found. Allowed: " in message:
        return "MAX_ALIASES_EXCEEDED"
    if _is_coercion_error(message):
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"
