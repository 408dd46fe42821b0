"""Entity stubs: how a subgraph refers to an entity another subgraph owns."""

import strawberry
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet


@strawberry.federation.type(
    name="User",
    keys=[Key(fields=FieldSet("id"), resolvable=False)],
    description="A person; resolved by the users subgraph",
)
class UserRef:
    id: strawberry.ID


@strawberry.federation.type(
    name="Event",
    keys=[Key(fields=FieldSet("id"), resolvable=False)],
    description="Something people meet at; resolved by the events subgraph",
)
class EventRef:
    id: strawberry.ID
