from enum import Enum
from typing import Any

import strawberry

from shared.auth import Role as RoleValue
from shared.errors import Unauthenticated
from shared.schema import federated_schema
from shared.validation import parse_id
from subgraphs.users import resolvers, sessions
from subgraphs.users.context import Info
from subgraphs.users.sessions import Session
from subgraphs.users.types import AuthPayload, Role, UpdateProfileInput, User


def _payload(session: Session) -> AuthPayload:
    return AuthPayload(
        access_token=session.access_token,
        access_token_expires_at=session.access_token_expires_at,
        refresh_token=session.refresh_token,
        refresh_token_expires_at=session.refresh_token_expires_at,
        user=User.from_row(session.user, shown_to_self=True),
    )


def _given_fields(profile: UpdateProfileInput) -> dict[str, Any]:
    """The input's fields the client actually sent, flattened to column names."""
    given: dict[str, Any] = {}
    for name, value in vars(profile).items():
        if value is strawberry.UNSET:
            continue
        if name == "location":
            for part in ("city", "country"):
                part_value = None if value is None else getattr(value, part)
                if part_value is not strawberry.UNSET:
                    given[part] = part_value
        else:
            given[name] = value.value if isinstance(value, Enum) else value
    return given


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in person")
    async def me(self, info: Info) -> User:
        principal = await info.context.require_principal()
        row = await info.context.user_by_id.load(principal.user_id)
        if row is None:  # a correctly signed token for an account that is gone
            raise Unauthenticated("Your account no longer exists", reason="ACCOUNT_GONE")
        return User.from_row(row)

    @strawberry.field
    async def user(self, info: Info, id: strawberry.ID) -> User:
        return User.from_row(await resolvers.get_user(info.context, parse_id(id)))


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Create an account and sign in")
    async def register(self, info: Info, email: str, password: str, name: str) -> AuthPayload:
        return _payload(
            await sessions.register(info.context, email=email, password=password, name=name)
        )

    @strawberry.mutation(description="Sign in with email and password")
    async def login(self, info: Info, email: str, password: str) -> AuthPayload:
        return _payload(await sessions.login(info.context, email=email, password=password))

    @strawberry.mutation(
        description="Trade a refresh token for new tokens; each refresh token works once "
        "(presented again within a few seconds, it answers the same new refresh token)"
    )
    async def refresh_token(self, info: Info, refresh_token: str) -> AuthPayload:
        return _payload(await sessions.refresh_token(info.context, refresh_token=refresh_token))

    @strawberry.mutation(
        description="End the session the refresh token belongs to, its access tokens included"
    )
    async def logout(self, info: Info, refresh_token: str) -> bool:
        return await sessions.logout(info.context, refresh_token=refresh_token)

    @strawberry.mutation
    async def update_profile(self, info: Info, input: UpdateProfileInput) -> User:
        row = await resolvers.update_profile(info.context, _given_fields(input))
        return User.from_row(row, shown_to_self=True)

    @strawberry.mutation(description="Admins only; the person's tokens stop working")
    async def set_user_role(self, info: Info, user_id: strawberry.ID, role: Role) -> User:  # type: ignore[valid-type]
        row = await resolvers.set_user_role(
            info.context, user_id=parse_id(user_id, "userId"), role=RoleValue(role)
        )
        return User.from_row(row)

    @strawberry.mutation(
        description="Admins: suspend an account. It cannot sign in, its sessions end and its "
        "tokens stop working within seconds. Suspending twice changes nothing."
    )
    async def suspend_user(self, info: Info, user_id: strawberry.ID) -> User:
        row = await resolvers.suspend_user(info.context, user_id=parse_id(user_id, "userId"))
        return User.from_row(row)

    @strawberry.mutation(description="Admins: lift a suspension; the person can sign in again")
    async def unsuspend_user(self, info: Info, user_id: strawberry.ID) -> User:
        row = await resolvers.unsuspend_user(info.context, user_id=parse_id(user_id, "userId"))
        return User.from_row(row)

    @strawberry.mutation(
        description="Stop this person from starting conversations with you or writing in "
        "your direct conversation; returns them. Blocking twice changes nothing."
    )
    async def block_user(self, info: Info, user_id: strawberry.ID) -> User:
        row = await resolvers.block_user(info.context, user_id=parse_id(user_id, "userId"))
        return User.from_row(row)

    @strawberry.mutation(description="Lift a block; returns the person. A no-op if not blocked.")
    async def unblock_user(self, info: Info, user_id: strawberry.ID) -> User:
        row = await resolvers.unblock_user(info.context, user_id=parse_id(user_id, "userId"))
        return User.from_row(row)


schema = federated_schema(query=Query, mutation=Mutation, types=[User])
