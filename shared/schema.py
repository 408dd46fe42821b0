"""How every subgraph builds its Strawberry federation schema."""

import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any, Final

from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.federation import Schema
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from shared.errors import client_error_code, database_refusal, is_client_error
from shared.metrics import graphql_errors, graphql_operations, operation_label
from shared.settings import get_settings
from shared.telemetry import operation_span

log = logging.getLogger("shared.graphql")

# The Guild's composition library accepts Federation 2.0 to 2.9; Strawberry defaults to 2.11.
FEDERATION_VERSION: Final = "2.9"


def _operation(execution_context: ExecutionContext | None) -> tuple[str, str, str]:
    """(service, operation label, operation type) for the metrics of an operation."""
    if execution_context is None:
        return "unknown", "anonymous", "unknown"
    service = str(getattr(execution_context.context, "service", "unknown"))
    try:
        kind = execution_context.operation_type.value
    except Exception:  # not parsed: a syntax error, or no operation of that name
        kind = "unknown"
    name = execution_context.operation_name
    if not name or name == "anonymous":
        name = getattr(execution_context.context, "client_operation_name", None)
    return service, operation_label(name), kind


class OperationObserver(SchemaExtension):
    """One span per GraphQL operation, named after it, and the operation counter.

    Strawberry creates an instance per operation and the span lives in this generator's
    frame, so concurrent operations never share span state (Strawberry's bundled
    OpenTelemetry extension keeps spans in a class-level dict: strawberry issue #3788).
    """

    def on_operation(self) -> Iterator[None]:
        with operation_span("graphql.operation") as span:
            yield
            service, operation, kind = _operation(self.execution_context)
            span.update_name(f"{kind} {operation}")
            span.set_attribute("graphql.operation.name", operation)
            span.set_attribute("graphql.operation.type", kind)
        graphql_operations.labels(service, operation, kind).inc()


_SUGGESTION = re.compile(r" Did you mean .*\?$")


class SubgraphSchema(Schema):
    # Production: no "Did you mean …?" in validation errors (they reveal the schema).
    hide_suggestions = False

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> Any:
        """Subscriptions (and any streamed result) end with UNAUTHENTICATED once the
        caller's token expires or is revoked (`RequestContext.guard_stream`)."""
        results = await super().stream(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
            allowed_operation_types,
        )
        guard = getattr(context_value, "guard_stream", None)
        return results if guard is None else guard(results)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Runs before MaskErrors replaces internal errors, so the traceback is kept here.
        service, operation, _ = _operation(execution_context)
        for error in errors:
            refusal = database_refusal(error.original_error)
            if refusal is not None:
                error.message, error.original_error = refusal.message, refusal
                error.extensions = refusal.extensions
            if is_client_error(error):
                code = client_error_code(error)
                # Clients branch on the code (a sign-out on UNAUTHENTICATED): every error
                # they can cause carries one, input coercion errors BAD_USER_INPUT.
                error.extensions = {**(error.extensions or {}), "code": code}
                if self.hide_suggestions and error.path is None:
                    error.message = _SUGGESTION.sub("", error.message)
                log.info(error.message, extra={"fields": {"code": code, "path": error.path}})
            else:
                code = "INTERNAL_SERVER_ERROR"
                log.error(error.message, exc_info=error.original_error)
            graphql_errors.labels(service, operation, code).inc()


def federated_schema(**kwargs: Any) -> Schema:
    settings = get_settings()
    # Limits on the document, as at the router (defence in depth: a subgraph port reached
    # directly is held to them too). Each limiter builds its rule classes when constructed,
    # and the ValidationCache is keyed by those classes: built per request, every
    # validation would miss the cache. So the rules are built once, here.
    limits = [
        QueryDepthLimiter(max_depth=settings.subgraph_max_depth),
        MaxAliasesLimiter(max_alias_count=settings.subgraph_max_aliases),
    ]
    if settings.production:
        limits.append(DisableIntrospection())
    rules = [rule for limit in limits for rule in limit.validation_rules]
    schema = SubgraphSchema(
        federation_version=FEDERATION_VERSION,
        extensions=[
            # The router sends the same few operations again and again: parse and
            # validate each one once.
            lambda: ParserCache(maxsize=1000),
            lambda: AddValidationRules(rules),
            lambda: ValidationCache(maxsize=1000),
            OperationObserver,
            lambda: MaskErrors(
                should_mask_error=lambda error: not is_client_error(error),
                error_message="Internal server error",
            ),
        ],
        **kwargs,
    )
    schema.hide_suggestions = settings.production
    return schema
