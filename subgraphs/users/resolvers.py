"""Accounts, sessions and profiles: what the users mutations do."""

import asyncio
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Role
from shared.errors import BadUserInput, Conflict, NotFound, Unauthenticated
from shared.settings import Settings
from shared.validation import validate_input
from subgraphs.users.context import Context
from subgraphs.users.models import BlockRow, RefreshTokenRow, UserRow, outbox
from subgraphs.users.validation import ProfileChanges, Registration


@dataclass(frozen=True)
class Session:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime
    user: UserRow


@lru_cache
def password_hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)


def _hasher(settings: Settings) -> PasswordHasher:
    return password_hasher(settings.password_hash_time_cost, settings.password_hash_memory_kib)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def profile_snapshot(user: UserRow) -> dict[str, Any]:
    """The profile as domain events carry it (consumers keep their own copy)."""
    return {
        "user_id": str(user.id),
        "name": user.name,
        "role": user.role,
        "headline": user.headline,
        "company": user.company,
        "job_title": user.job_title,
        "industry": user.industry,
        "seniority": user.seniority,
        "city": user.city,
        "country": user.country,
        "skills": user.skills,
        "interests": user.interests,
        "offers": user.offers,
        "seeks": user.seeks,
        "visibility": user.visibility,
        "avatar_url": user.avatar_url,
    }


async def _open_session(
    context: Context, session: AsyncSession, user: UserRow, family_id: uuid.UUID | None = None
) -> Session:
    """Issue an access token and a new refresh token (in `family_id`, or a new family)."""
    settings = context.settings
    refresh_token = secrets.token_urlsafe(32)
    refresh_expires_at = datetime.now(UTC) + timedelta(seconds=settings.refresh_token_ttl_seconds)
    session.add(
        RefreshTokenRow(
            user_id=user.id,
            family_id=family_id or uuid.uuid4(),
            token_hash=_token_hash(refresh_token),
            expires_at=refresh_expires_at,
        )
    )
    access_token, access_expires_at = context.signer.issue(user.id, Role(user.role))
    return Session(access_token, access_expires_at, refresh_token, refresh_expires_at, user)


async def register(context: Context, email: str, password: str, name: str) -> Session:
    data = validate_input(Registration, {"email": email, "password": password, "name": name})
    password_hash = await asyncio.to_thread(_hasher(context.settings).hash, data.password)
    try:
        async with context.db.transaction() as session:
            user = UserRow(email=data.email, password_hash=password_hash, name=data.name)
            session.add(user)
            await session.flush()
            await session.refresh(user)
            await outbox.record(
                session,
                "user.registered",
                user.id,
                # The address is for notification emails (messaging); nothing else publishes it.
                {**profile_snapshot(user), "email": user.email},
                version=user.version,
            )
            return await _open_session(context, session, user)
    except IntegrityError:
        raise Conflict("An account with this email already exists", field="email") from None


@lru_cache
def _decoy_hash(hasher: PasswordHasher) -> str:
    """Verifying against a real hash when the email is unknown keeps both failures
    equally slow, so response times do not reveal which emails have accounts."""
    return hasher.hash(secrets.token_urlsafe(16))


async def login(context: Context, email: str, password: str) -> Session:
    hasher = _hasher(context.settings)
    async with context.db.transaction() as session:
        user = await session.scalar(select(UserRow).where(UserRow.email == email.strip().lower()))
    try:
        await asyncio.to_thread(
            hasher.verify, user.password_hash if user else _decoy_hash(hasher), password
        )
    except (VerificationError, InvalidHashError):
        user = None
    if user is None:
        raise Unauthenticated("Invalid email or password", reason="INVALID_CREDENTIALS")
    async with context.db.transaction() as session:
        return await _open_session(context, session, user)


def _require_token(refresh_token: str) -> str:
    if not refresh_token.strip():
        raise BadUserInput("refreshToken is required", field="refreshToken")
    return refresh_token.strip()


async def refresh(context: Context, refresh_token: str) -> Session:
    refresh_token = _require_token(refresh_token)
    now = datetime.now(UTC)
    async with context.db.transaction() as session:
        token = await session.scalar(
            select(RefreshTokenRow)
            .where(RefreshTokenRow.token_hash == _token_hash(refresh_token))
            .with_for_update()
        )
        if token is None:
            problem = "Unknown refresh token"
        elif token.revoked_at is not None or token.rotated_at is not None:
            # A token used twice was copied: end every session descended from its login.
            await _revoke_family(session, token.family_id, now)
            problem = "Refresh token was already used; please log in again"
        elif token.expires_at <= now:
            problem = "Refresh token expired"
        else:
            token.rotated_at = now
            user = await session.get_one(UserRow, token.user_id)
            return await _open_session(context, session, user, family_id=token.family_id)
    raise Unauthenticated(problem, reason="REFRESH_TOKEN_INVALID")


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(RefreshTokenRow)
        .where(RefreshTokenRow.family_id == family_id, RefreshTokenRow.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def logout(context: Context, refresh_token: str) -> bool:
    """Ends the session the refresh token belongs to; true whether or not it was still live."""
    refresh_token = _require_token(refresh_token)
    async with context.db.transaction() as session:
        token = await session.scalar(
            select(RefreshTokenRow).where(RefreshTokenRow.token_hash == _token_hash(refresh_token))
        )
        if token is not None:
            await _revoke_family(session, token.family_id, datetime.now(UTC))
    return True


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


async def set_role(context: Context, user_id: uuid.UUID, role: Role) -> UserRow:
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
    return user


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
