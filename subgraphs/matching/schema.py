import strawberry

from shared.schema import federated_schema
from shared.validation import check_page_size
from subgraphs.matching import resolvers
from subgraphs.matching.context import Info
from subgraphs.matching.types import Recommendation


@strawberry.type
class Query:
    @strawberry.field(description="People worth meeting, best first")
    async def recommendations(self, info: Info, first: int = 10) -> list[Recommendation]:
        check_page_size(first)
        rows = await resolvers.recommendations_for_me(info.context, first)
        return [Recommendation.from_row(row) for row in rows]


schema = federated_schema(query=Query)
