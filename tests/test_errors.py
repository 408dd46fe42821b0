"""Errors a client causes keep their code; anything else is masked, never leaked."""

import strawberry

from shared.errors import Conflict
from shared.schema import federated_schema


@strawberry.type
class Query:
    @strawberry.field
    def broken(self) -> str:
        raise RuntimeError("connection string postgresql://secret@db leaked")

    @strawberry.field
    def taken(self) -> str:
        raise Conflict("That name is taken", field="name")


schema = federated_schema(query=Query)


async def test_internal_errors_are_masked() -> None:
    result = await schema.execute("{ broken }")
    assert result.errors is not None
    formatted = result.errors[0].formatted
    assert formatted["message"] == "Internal server error"
    assert "secret" not in str(formatted)


async def test_client_errors_keep_their_code_and_details() -> None:
    result = await schema.execute("{ taken }")
    assert result.errors is not None
    formatted = result.errors[0].formatted
    assert formatted["message"] == "That name is taken"
    assert formatted["extensions"] == {"code": "CONFLICT", "field": "name"}
