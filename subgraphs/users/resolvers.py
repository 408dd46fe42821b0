"""Profiles, roles, blocks and moderation: what the users mutations do (signing up and
in, and sessions: `sessions.py`)."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Role
from shared.errors import BadUserInput, NotFound
from shared.validation import validate_input
from subgraphs.users.context import Context
from subgraphs.users.models import BlockRow, UserRow, outbox
from subgraphs.users.sessions import revoke_all_sessions
from subgraphs.users.validation import ProfileChanges


async def update_profile(context: Context, changes: dict[str, Any]) -> UserRow:
    viewer = await context.require_principal()
    valid = validate_input(ProfileChanges, changes).model_dump(exclude_unset=True, mode="json")
    async with context.db.transaction() as session:
        user = await session.get(UserRow, viewer.user_id, with_for_update=True)
        if user is None:
            raise NotFound("Your account no longer exists")
        changed = [field for field, value in valid.items() if getattr(user, field) != value]
        for field in changed:
            setattr(user, field, valid[field])
        if changed:
            await session.flush()
            await session.refresh(user)
            # What changed and its new value, not a copy of the whole profile.
            await outbox.record(
                session,
                "user.profile_updated",
                user.id,
                {"user_id": str(user.id), "changed": {field: valid[field] for field in changed}},
                version=user.version,
            )
    return user


async def set_user_role(context: Context, *, user_id: uuid.UUID, role: Role) -> UserRow:
    """Admins: a new role. Tokens carry the role, so the person's tokens are revoked
    (access tokens within seconds, refresh tokens at once): they sign in again."""
    viewer = await context.require_principal()
    viewer.require_role(Role.ADMIN)
    async with context.db.transaction() as session:
        user = await session.get(UserRow, user_id, with_for_update=True)
        if user is None:
            raise NotFound("No such user")
        if user.role != role.value:
            user.role = role.value
            await session.flush()  # bumps user.version
            await outbox.record(
                session, "user.role_changed", user.id, {"role": role.value}, version=user.version
            )
            await revoke_all_sessions(session, user.id, datetime.now(UTC))
            await context.revocations.revoke_user(user.id)  # before the commit
    return user


# Moderation -----------------------------------------------------------------------------


async def _set_suspension(context: Context, user_id: uuid.UUID, *, suspended: bool) -> UserRow:
    """Admins: suspends or reinstates an account. Suspended, it cannot sign in or refresh,
    and its tokens stop working everywhere within seconds (shared/revocation.py).
    `user.suspended` / `user.unsuspended` carry {"user_id"} at the user's next version;
    suspending twice (or lifting what is not there) changes and publishes nothing."""
    viewer = await context.require_principal()
    viewer.require_role(Role.ADMIN)
    if user_id == viewer.user_id:
        raise BadUserInput("You cannot suspend yourself", field="userId")
    async with context.db.transaction() as session:
        user = await session.get(UserRow, user_id, with_for_update=True)
        if user is None:
            raise NotFound("No such user")
        if (user.suspended_at is not None) != suspended:
            now = datetime.now(UTC)
            user.suspended_at = now if suspended else None
            await session.flush()  # bumps user.version
            await outbox.record(
                session,
                "user.suspended" if suspended else "user.unsuspended",
                user.id,
                {"user_id": str(user.id)},
                version=user.version,
            )
            if suspended:
                await revoke_all_sessions(session, user.id, now)
                await context.revocations.revoke_user(user.id)  # before the commit
    return user


async def suspend_user(context: Context, *, user_id: uuid.UUID) -> UserRow:
    return await _set_suspension(context, user_id, suspended=True)


async def unsuspend_user(context: Context, *, user_id: uuid.UUID) -> UserRow:
    return await _set_suspension(context, user_id, suspended=False)


async def get_user(context: Context, user_id: uuid.UUID) -> UserRow:
    user = await context.user_by_id.load(user_id)
    if user is None:
        raise NotFound("No such user")
    return user


# Blocking -------------------------------------------------------------------------------


async def _bump_version(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Locks the person's row and bumps its version: a block is a change of the blocker,
    so `user.blocked` / `user.unblocked` are ordered with the blocker's other events."""
    version = await session.scalar(
        update(UserRow)
        .where(UserRow.id == user_id)
        .values(version=UserRow.version + 1)
        .returning(UserRow.version)
        .execution_options(synchronize_session=False)
    )
    if version is None:
        raise NotFound("Your account no longer exists")
    return int(version)


async def _set_block(context: Context, user_id: uuid.UUID, *, blocked: bool) -> UserRow:
    """Adds or lifts the viewer's block on `user_id` and publishes the change; when
    nothing changes (blocking twice, lifting what is not there), nothing is published."""
    viewer = await context.require_principal()
    if user_id == viewer.user_id:
        raise BadUserInput("You cannot block yourself", field="userId")
    target = await context.user_by_id.load(user_id)
    if target is None:
        raise NotFound("No such user")
    pair = {"blocker_id": viewer.user_id, "blocked_id": user_id}
    change = (
        insert(BlockRow).values(**pair).on_conflict_do_nothing()
        if blocked
        else delete(BlockRow).where(
            BlockRow.blocker_id == viewer.user_id, BlockRow.blocked_id == user_id
        )
    )
    async with context.db.transaction() as session:
        if await session.scalar(change.returning(BlockRow.blocked_id)) is not None:
            await outbox.record(
                session,
                "user.blocked" if blocked else "user.unblocked",
                viewer.user_id,
                {key: str(value) for key, value in pair.items()},
                version=await _bump_version(session, viewer.user_id),
            )
    return target


async def block_user(context: Context, *, user_id: uuid.UUID) -> UserRow:
    return await _set_block(context, user_id, blocked=True)


async def unblock_user(context: Context, *, user_id: uuid.UUID) -> UserRow:
    return await _set_block(context, user_id, blocked=False)
