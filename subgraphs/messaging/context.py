import uuid
from functools import partial

import strawberry
from aiodataloader import DataLoader
from starlette.requests import HTTPConnection

from shared.context import RequestContext
from subgraphs.messaging import resolvers


class Context(RequestContext):
    def __init__(self, connection: HTTPConnection) -> None:
        super().__init__(connection)
        self.participants: DataLoader[uuid.UUID, list[uuid.UUID]] = DataLoader(
            partial(resolvers.participants_of, self.db)
        )


async def get_context(connection: HTTPConnection) -> Context:
    return Context(connection)


Info = strawberry.Info[Context, None]
