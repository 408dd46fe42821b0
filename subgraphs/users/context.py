import uuid
from collections import defaultdict
from collections.abc import Sequence
from functools import partial

import strawberry
from aiodataloader import DataLoader
from sqlalchemy import select
from starlette.requests import HTTPConnection

from shared.auth import TokenSigner
from shared.context import RequestContext
from shared.db import Database
from shared.loaders import rows_by_key
from subgraphs.users.models import BlockRow, UserRow


async def blocked_users_of(db: Database, blocker_ids: Sequence[uuid.UUID]) -> list[list[UserRow]]:
    """For each person, whom they block, most recent first (one statement for them all)."""
    async with db.read() as session:
        rows = await session.execute(
            select(BlockRow.blocker_id, UserRow)
            .join(UserRow, UserRow.id == BlockRow.blocked_id)
            .where(BlockRow.blocker_id.in_(blocker_ids))
            .order_by(BlockRow.created_at.desc(), BlockRow.blocked_id)
        )
    found: dict[uuid.UUID, list[UserRow]] = defaultdict(list)
    for blocker_id, user in rows:
        found[blocker_id].append(user)
    return [found[blocker_id] for blocker_id in blocker_ids]


class Context(RequestContext):
    def __init__(self, connection: HTTPConnection) -> None:
        super().__init__(connection)
        self.signer: TokenSigner = connection.app.state.signer
        self.user_by_id: DataLoader[uuid.UUID, UserRow | None] = rows_by_key(
            self.db, UserRow, UserRow.id
        )
        self.blocked_users: DataLoader[uuid.UUID, list[UserRow]] = DataLoader(
            partial(blocked_users_of, self.db)
        )


async def get_context(connection: HTTPConnection) -> Context:
    return Context(connection)


Info = strawberry.Info[Context, None]
