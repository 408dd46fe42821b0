"""How every subgraph builds its Strawberry federation schema."""

import logging
from typing import Any, Final

from graphql import GraphQLError
from strawberry.extensions import MaskErrors, ParserCache, ValidationCache
from strawberry.federation import Schema
from strawberry.types import ExecutionContext

from shared.errors import is_client_error

log = logging.getLogger("shared.graphql")

# The Guild's composition library accepts Federation 2.0 to 2.9; Strawberry defaults to 2.11.
FEDERATION_VERSION: Final = "2.9"


class SubgraphSchema(Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Runs before MaskErrors replaces internal errors, so the traceback is kept here.
        for error in errors:
            if is_client_error(error):
                code = (error.extensions or {}).get("code", "GRAPHQL_VALIDATION_FAILED")
                log.info(error.message, extra={"fields": {"code": code, "path": error.path}})
            else:
                log.error(error.message, exc_info=error.original_error)


def federated_schema(**kwargs: Any) -> Schema:
    return SubgraphSchema(
        federation_version=FEDERATION_VERSION,
        extensions=[
            # The router sends the same few operations again and again: parse and
            # validate each one once.
            lambda: ParserCache(maxsize=1000),
            lambda: ValidationCache(maxsize=1000),
            lambda: MaskErrors(
                should_mask_error=lambda error: not is_client_error(error),
                error_message="Internal server error",
            ),
        ],
        **kwargs,
    )
