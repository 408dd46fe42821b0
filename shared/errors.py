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


def is_client_error(error: GraphQLError) -> bool:
    """True for errors safe to show: ours, and GraphQL's own parse, validation and input
    coercion errors (an invalid `DateTime` raises ValueError in the scalar's parser before
    any resolver runs: such errors have no path)."""
    original = error.original_error
    return original is None or isinstance(original, ClientError) or error.path is None


def client_error_code(error: GraphQLError) -> str:
    """The `extensions.code` of a client error: its own, else what went wrong before
    execution: the document's syntax, its validity, or the input's values."""
    code = (error.extensions or {}).get("code")
    if isinstance(code, str):
        return code
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    # Variables that are missing, of the wrong type or not a known enum value, and scalar
    # values their parser refused (in variables or in the document's literals).
    message = error.message
    if (
        error.original_error is not None
        or message.startswith(("Variable '$", "Expected value of type"))
        or "cannot represent" in message
    ):
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"
