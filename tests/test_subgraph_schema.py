"""How every subgraph's schema treats the operations the router sends again and again."""

from typing import Any

import strawberry
from strawberry.extensions.validation_cache import _get_validate_cache

from shared.schema import federated_schema


@strawberry.type
class Query:
    @strawberry.field
    def greeting(self) -> str:
        return "hello"


async def test_an_operation_sent_again_is_not_validated_again() -> None:
    schema = federated_schema(query=Query)
    # The cache is Strawberry's, shared by every schema with the same maxsize: count
    # what this test adds to it.
    validations: Any = _get_validate_cache(1000)  # an lru_cache
    query = "query Greeting { greeting }"

    first = await schema.execute(query)
    misses = validations.cache_info().misses
    hits = validations.cache_info().hits
    second = await schema.execute(query)

    assert first.data == second.data == {"greeting": "hello"}
    assert validations.cache_info().misses == misses
    assert validations.cache_info().hits == hits + 1


async def test_the_document_limits_still_apply_to_a_cached_operation() -> None:
    schema = federated_schema(query=Query)
    aliases = " ".join(f"a{n}: greeting" for n in range(200))
    query = f"query Many {{ {aliases} }}"

    for _ in range(2):
        result = await schema.execute(query)
        assert result.errors, "too many aliases must be refused every time"
        assert "aliases" in result.errors[0].message.lower()
