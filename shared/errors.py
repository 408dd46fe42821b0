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
    """True for errors safe to show: ours, and GraphQL's own parse/validation errors."""
    original = error.original_error
    return original is None or isinstance(original, ClientError)
