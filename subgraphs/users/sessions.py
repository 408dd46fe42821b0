"""Signing up, signing in and sessions: passwords, access and refresh tokens.

- Passwords are hashed with argon2 on a small pool of its own (`PASSWORD_HASH_THREADS`):
  each hash takes tens of megabytes and tens of milliseconds of one core, so a flood of
  log-ins queues there instead of exhausting memory or starving the event loop. A
  stored hash made with lower costs than the settings' is replaced at the next log-in.
- Abuse limits per account (`shared/ratelimit.py`): wrong passwords per email, sign-up
  attempts per email, refreshes per person. The router limits per client address.
- Refresh tokens rotate within a family (one log-in); presenting a rotated token again
  revokes the family, except within `REFRESH_GRACE_SECONDS` of its rotation (a client
  retrying after a network drop), which gets the same successor again: the successor
  is derived from the token it replaces with a key only this subgraph holds, so it is
  never stored. A family lives at most `REFRESH_FAMILY_MAX_DAYS` after its log-in.
- Logging out revokes the family and, through `shared/revocation.py`, the access tokens
  issued to it (their `sid` claim is the family id).
"""

import asyncio
import base64
import hashlib
import hmac
import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Role
from shared.errors import BadUserInput, Conflict, Forbidden, Unauthenticated
from shared.ratelimit import Limit
from shared.settings import Settings
from shared.validation import validate_input
from subgraphs.users.context import Context
from subgraphs.users.models import RefreshTokenRow, UserRow, outbox
from subgraphs.users.validation import Registration


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


@lru_cache
def _hashing_pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="password-hashing")


async def _hashing(settings: Settings, work: Any, *args: Any) -> Any:
    """Password hashing work, on its own bounded pool."""
    pool = _hashing_pool(settings.password_hash_threads)
    return await asyncio.get_running_loop().run_in_executor(pool, work, *args)


def login_failures(settings: Settings) -> Limit:
    return Limit(
        "login-failures",
        settings.login_failures_per_account,
        settings.login_failures_window_seconds,
    )


def registrations(settings: Settings) -> Limit:
    return Limit(
        "register", settings.registrations_per_email, settings.registrations_window_seconds
    )


def refreshes(settings: Settings) -> Limit:
    return Limit("refresh", settings.refreshes_per_account, settings.refreshes_window_seconds)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _successor(context: Context, refresh_token: str) -> str:
    """The refresh token that replaces `refresh_token` (always the same one)."""
    digest = hmac.new(context.signer.secret, refresh_token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


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
    context: Context,
    session: AsyncSession,
    user: UserRow,
    *,
    family_id: uuid.UUID | None = None,
    family_started_at: datetime | None = None,
    refresh_token: str | None = None,
) -> Session:
    """Issue an access token and a new refresh token (in `family_id`, or a new family)."""
    settings = context.settings
    now = datetime.now(UTC)
    family_id = family_id or uuid.uuid4()
    refresh_token = refresh_token or secrets.token_urlsafe(32)
    family_ends_at = (family_started_at or now) + timedelta(days=settings.refresh_family_max_days)
    refresh_expires_at = min(
        now + timedelta(seconds=settings.refresh_token_ttl_seconds), family_ends_at
    )
    session.add(
        RefreshTokenRow(
            user_id=user.id,
            family_id=family_id,
            token_hash=_token_hash(refresh_token),
            expires_at=refresh_expires_at,
        )
    )
    access_token, access_expires_at = context.signer.issue(
        user.id, Role(user.role), session_id=family_id
    )
    return Session(access_token, access_expires_at, refresh_token, refresh_expires_at, user)


async def register(context: Context, *, email: str, password: str, name: str) -> Session:
    data = validate_input(Registration, {"email": email, "password": password, "name": name})
    await context.rate_limiter.hit(registrations(context.settings), data.email)
    password_hash = await _hashing(context.settings, _hasher(context.settings).hash, data.password)
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


async def login(context: Context, *, email: str, password: str) -> Session:
    settings = context.settings
    email = email.strip().lower()
    failures = login_failures(settings)
    # Too many wrong passwords for this account: refused before the password is checked,
    # the right one included, until the window ends.
    await context.rate_limiter.check(failures, email)
    hasher = _hasher(settings)
    async with context.db.transaction() as session:
        user = await session.scalar(select(UserRow).where(UserRow.email == email))
    stored = user.password_hash if user else await _hashing(settings, _decoy_hash, hasher)
    try:
        await _hashing(settings, hasher.verify, stored, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None:
        await context.rate_limiter.hit(failures, email)
        raise Unauthenticated("Invalid email or password", reason="INVALID_CREDENTIALS")
    if user.suspended_at is not None:
        raise Forbidden("This account is suspended", reason="ACCOUNT_SUSPENDED")
    rehashed = None
    if hasher.check_needs_rehash(user.password_hash):  # the cost settings grew
        rehashed = await _hashing(settings, hasher.hash, password)
    async with context.db.transaction() as session:
        if rehashed is not None:
            await session.execute(
                update(UserRow).where(UserRow.id == user.id).values(password_hash=rehashed)
            )
        return await _open_session(context, session, user)


def _require_token(refresh_token: str) -> str:
    if not refresh_token.strip():
        raise BadUserInput("refreshToken is required", field="refreshToken")
    return refresh_token.strip()


async def refresh_token(context: Context, *, refresh_token: str) -> Session:
    refresh_token = _require_token(refresh_token)
    settings = context.settings
    now = datetime.now(UTC)
    async with context.db.transaction() as session:
        token = await session.scalar(
            select(RefreshTokenRow)
            .where(RefreshTokenRow.token_hash == _token_hash(refresh_token))
            .with_for_update()
        )
        if token is None:
            problem = "Unknown refresh token"
        else:
            await context.rate_limiter.hit(refreshes(settings), str(token.user_id))
            user = await session.get_one(UserRow, token.user_id)
            started_at = await session.scalar(
                select(func.min(RefreshTokenRow.created_at)).where(
                    RefreshTokenRow.family_id == token.family_id
                )
            )
            if token.revoked_at is not None or user.suspended_at is not None:
                problem = "This session has ended; please log in again"
            elif token.rotated_at is not None:
                successor = _successor(context, refresh_token)
                retried = now - token.rotated_at <= timedelta(
                    seconds=settings.refresh_grace_seconds
                )
                if retried and await _unused(session, successor):
                    # The client lost the answer to its refresh: the same successor again.
                    return await _open_session_again(context, session, user, token, successor)
                # A token used twice was copied: end every session descended from its login.
                await revoke_family(session, token.family_id, now)
                problem = "Refresh token was already used; please log in again"
            elif token.expires_at <= now:
                problem = "Refresh token expired; please log in again"
            else:
                token.rotated_at = now
                return await _open_session(
                    context,
                    session,
                    user,
                    family_id=token.family_id,
                    family_started_at=started_at,
                    refresh_token=_successor(context, refresh_token),
                )
    raise Unauthenticated(problem, reason="REFRESH_TOKEN_INVALID")


async def _unused(session: AsyncSession, token: str) -> bool:
    row = await session.scalar(
        select(RefreshTokenRow).where(RefreshTokenRow.token_hash == _token_hash(token))
    )
    return row is not None and row.rotated_at is None and row.revoked_at is None


async def _open_session_again(
    context: Context, session: AsyncSession, user: UserRow, token: RefreshTokenRow, successor: str
) -> Session:
    """The session a refresh already opened: its refresh token, a new access token."""
    row = await session.scalar(
        select(RefreshTokenRow).where(RefreshTokenRow.token_hash == _token_hash(successor))
    )
    assert row is not None
    access_token, access_expires_at = context.signer.issue(
        user.id, Role(user.role), session_id=token.family_id
    )
    return Session(access_token, access_expires_at, successor, row.expires_at, user)


async def revoke_family(session: AsyncSession, family_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(RefreshTokenRow)
        .where(RefreshTokenRow.family_id == family_id, RefreshTokenRow.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_all_sessions(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(RefreshTokenRow)
        .where(RefreshTokenRow.user_id == user_id, RefreshTokenRow.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def logout(context: Context, *, refresh_token: str) -> bool:
    """Ends the session the refresh token belongs to, its access tokens included; true
    whether or not it was still live."""
    refresh_token = _require_token(refresh_token)
    async with context.db.transaction() as session:
        token = await session.scalar(
            select(RefreshTokenRow).where(RefreshTokenRow.token_hash == _token_hash(refresh_token))
        )
        if token is not None:
            await revoke_family(session, token.family_id, datetime.now(UTC))
            # Before the commit: a logout never commits without its access tokens revoked.
            await context.revocations.revoke_session(token.family_id)
    return True
