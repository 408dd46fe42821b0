import uuid

import strawberry
from aiodataloader import DataLoader
from starlette.requests import HTTPConnection

from shared.auth import TokenSigner
from shared.context import RequestContext
from shared.loaders import rows_by_key
from subgraphs.users.models import UserRow


class Context(RequestContext):
    def __init__(self, connection: HTTPConnection) -> None:
        super().__init__(connection)
        self.signer: TokenSigner = connection.app.state.signer
        self.user_by_id: DataLoader[uuid.UUID, UserRow | None] = rows_by_key(
            self.db, UserRow, UserRow.id
        )


async def get_context(connection: HTTPConnection) -> Context:
    return Context(connection)


Info = strawberry.Info[Context, None]
