from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from sqlalchemy import select
from strawberry.federation.schema_directives import ListSize

from shared.pagination import Connection
from shared.pubsub import Resync
from shared.schema import federated_schema
from shared.validation import parse_id
from subgraphs.matching import resolvers
from subgraphs.matching.context import Info
from subgraphs.matching.live import matches_channel
from subgraphs.matching.models import MatchRow
from subgraphs.matching.types import Event, LikeResult, Match, Recommendation, User

PAGED = [ListSize(slicing_arguments=["first"], sized_fields=["edges"])]  # type: ignore[call-arg]


@strawberry.type
class Query:
    @strawberry.field(
        description="People worth meeting, best first: overall, or among the confirmed "
        "attendees of one event",
        directives=PAGED,
    )
    async def recommendations(
        self, info: Info, event_id: strawberry.ID | None = None, first: int = 20,
        after: str | None = None,
    ) -> Connection[Recommendation]:  # fmt: skip
        return await resolvers.recommendations(
            info.context, event_id=event_id, first=first, after_cursor=after
        )

    @strawberry.field(description="The people you matched with, newest first", directives=PAGED)
    async def matches(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection[Match]:
        return await resolvers.matches(info.context, first=first, after_cursor=after)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="You would like to meet them (at an event, if given); if they liked you "
        "too, you match"
    )
    async def like(
        self, info: Info, user_id: strawberry.ID, event_id: strawberry.ID | None = None
    ) -> LikeResult:
        return await resolvers.like(info.context, user_id=user_id, event_id=event_id)

    @strawberry.mutation(name="pass", description="Not now: they leave your recommendations")
    async def pass_person(self, info: Info, user_id: strawberry.ID) -> bool:
        return await resolvers.pass_person(info.context, user_id=user_id)

    @strawberry.mutation(description="Take a pass back; false when there was none")
    async def undo_pass(self, info: Info, user_id: strawberry.ID) -> bool:
        return await resolvers.undo_pass(info.context, user_id=user_id)


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Each new match of yours, as it happens")
    async def match_created(self, info: Info) -> AsyncGenerator[Match, None]:
        viewer = await info.context.require_principal()
        mine = (MatchRow.user_a == viewer.user_id) | (MatchRow.user_b == viewer.user_id)
        async with info.context.pubsub.subscribe(matches_channel(viewer.user_id)) as updates:
            async for update in updates:
                async with info.context.db.transaction() as session:
                    if isinstance(update, Resync):
                        # Matches made while Redis was unreachable.
                        since: datetime = update.since
                        rows = list(
                            await session.scalars(
                                select(MatchRow)
                                .where(mine, MatchRow.created_at >= since)
                                .order_by(MatchRow.created_at)
                            )
                        )
                    else:
                        row = await session.get(MatchRow, parse_id(update["match_id"]))
                        rows = [] if row is None else [row]
                for row in rows:
                    yield Match.of(row)


schema = federated_schema(
    query=Query, mutation=Mutation, subscription=Subscription, types=[User, Event]
)
