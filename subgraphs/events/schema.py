import strawberry

from shared.schema import federated_schema
from shared.validation import parse_id
from subgraphs.events import resolvers
from subgraphs.events.context import Info
from subgraphs.events.types import Event


@strawberry.type
class Query:
    @strawberry.field
    async def event(self, info: Info, id: strawberry.ID) -> Event:
        return Event.from_row(await resolvers.get_event(info.context.db, parse_id(id)))


schema = federated_schema(query=Query, types=[Event])
