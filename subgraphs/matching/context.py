import strawberry
from starlette.requests import HTTPConnection

from shared.context import RequestContext


class Context(RequestContext):
    pass


async def get_context(connection: HTTPConnection) -> Context:
    return Context(connection)


Info = strawberry.Info[Context, None]
