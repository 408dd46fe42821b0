"""Access tokens: RS256 JWTs signed by the users subgraph, verified by every subgraph.

The users subgraph holds the private key and publishes the public key as a JWKS;
the other subgraphs fetch that JWKS and verify each token themselves, so no
subgraph ever trusts a user id merely because a header carries it.
"""

import asyncio
import base64
import hashlib
import json
import logging
import math
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shared.errors import Forbidden, ServiceUnavailable, Unauthenticated

log = logging.getLogger(__name__)

ALGORITHM = "RS256"
# Verification tolerates this much difference between the signer's clock and ours.
CLOCK_SKEW_SECONDS = 30


class Role(StrEnum):
    MEMBER = "member"
    ORGANIZER = "organizer"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling, as proven by a verified access token."""

    user_id: uuid.UUID
    role: Role
    # From the token: when it was issued and expires (Unix time), and its session (the
    # refresh-token family it was issued to), for revocation (shared/revocation.py).
    issued_at: float = 0.0
    expires_at: float = math.inf
    session_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def require_role(self, *roles: Role) -> None:
        if self.role not in roles and not self.is_admin:
            allowed = " or ".join(role.value for role in roles)
            raise Forbidden(f"This needs the {allowed} role")


def generate_private_key_file(path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def public_jwk(public_key: rsa.RSAPublicKey) -> dict[str, Any]:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    # RFC 7638 thumbprint as key id: stable for a key, different for the next one.
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    jwk.update(kid=base64.urlsafe_b64encode(digest).rstrip(b"=").decode(), alg=ALGORITHM, use="sig")
    return jwk


class TokenSigner:
    def __init__(self, private_key_file: Path, issuer: str, audience: str, ttl_seconds: int):
        loaded = serialization.load_pem_private_key(private_key_file.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(f"{private_key_file} is not an RSA private key")
        self._private_key = loaded
        self.jwk = public_jwk(loaded.public_key())
        # A key for HMACs only this subgraph can make (refresh-token successors), derived
        # from the signing key so that there is no second secret to deploy.
        der = loaded.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.secret = hashlib.sha256(b"meetinity refresh-token successors\0" + der).digest()
        self._issuer = issuer
        self._audience = audience
        self._ttl = timedelta(seconds=ttl_seconds)

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [self.jwk]}

    def issue(
        self, user_id: uuid.UUID, role: Role, session_id: uuid.UUID | None = None
    ) -> tuple[str, datetime]:
        now = datetime.now(UTC)
        expires_at = now + self._ttl
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "role": role.value,
            "iss": self._issuer,
            "aud": self._audience,
            # To the microsecond: a token issued just after a revocation must not look older.
            "iat": now.timestamp(),
            "exp": expires_at,
            "jti": uuid.uuid4().hex,
        }
        if session_id is not None:
            claims["sid"] = str(session_id)
        token = jwt.encode(claims, self._private_key, ALGORITHM, headers={"kid": self.jwk["kid"]})
        return token, expires_at


class TokenVerifier:
    """Verifies access tokens against a JWKS.

    Keys are kept `ttl_seconds`, then fetched again: a key removed from the JWKS stops
    being trusted within that time. An unknown key id fetches the JWKS at once, but at
    most once per `refetch_interval_seconds`, so forged key ids cannot make every request
    fetch. A failed fetch is not retried before a backoff (1 s, doubling to a minute)
    and keeps the keys already known; with none known, tokens are answered with
    SERVICE_UNAVAILABLE (retryable) rather than refused.

    A token verified once is remembered until it expires (at most `remembered_tokens`):
    an app sends the same token with each request for its whole life, and the RSA
    verification was the largest fixed cost of a request. The token's key is still
    looked up each time, so a key rotated out stops being trusted as above.
    """

    ttl_seconds = 300.0
    remembered_tokens = 10_000
    refetch_interval_seconds = 10.0
    max_backoff_seconds = 60.0

    def __init__(
        self,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        jwks: dict[str, Any] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._jwks_url = jwks_url
        self._transport = transport
        self._keys: dict[str, Any] = {}
        self._loaded = False
        self._fetched_at = -math.inf
        self._attempted_at = -math.inf
        self._retry_at = -math.inf
        self._failures = 0
        self._lock = asyncio.Lock()
        self._verified: dict[str, tuple[str, Principal]] = {}
        if jwks is not None:
            self._load(jwks)

    def _load(self, jwks: dict[str, Any]) -> None:
        known = self._keys
        self._keys = {
            key["kid"]: known.get(key["kid"]) or jwt.PyJWK(key).key for key in jwks.get("keys", [])
        }
        self._loaded = True

    def _should_fetch(self, kid: str) -> bool:
        if self._jwks_url is None:
            return False
        now = time.monotonic()
        if now < self._retry_at:
            return False
        stale = now - self._fetched_at > self.ttl_seconds
        unknown = kid not in self._keys and now - self._attempted_at > self.refetch_interval_seconds
        return stale or unknown

    async def _fetch(self) -> None:
        assert self._jwks_url is not None
        self._attempted_at = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=5, transport=self._transport) as client:
                response = await client.get(self._jwks_url)
                response.raise_for_status()
            self._load(response.json())
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            self._failures += 1
            backoff = min(self.max_backoff_seconds, 2.0 ** (self._failures - 1))
            self._retry_at = time.monotonic() + backoff
            log.warning(
                "JWKS fetch failed",
                extra={"fields": {"error": str(exc), "retry_in_seconds": backoff}},
            )
        else:
            self._failures = 0
            self._fetched_at = time.monotonic()

    async def _key(self, kid: str) -> Any:
        if self._should_fetch(kid):
            async with self._lock:
                if self._should_fetch(kid):  # not done meanwhile by another request
                    await self._fetch()
        if kid not in self._keys:
            if not self._loaded:
                retry = max(1, math.ceil(self._retry_at - time.monotonic()))
                raise ServiceUnavailable(
                    "Signing keys are unavailable for a moment; retry", retryAfter=retry
                )
            raise Unauthenticated(
                "Access token was signed by an unknown key", reason="TOKEN_INVALID"
            )
        return self._keys[kid]

    async def verify(self, token: str) -> Principal:
        remembered = self._verified.get(token)
        if remembered is not None:
            kid, principal = remembered
            await self._key(kid)
            if time.time() > principal.expires_at + CLOCK_SKEW_SECONDS:
                del self._verified[token]
                raise Unauthenticated("Access token expired", reason="TOKEN_EXPIRED")
            return principal
        try:
            kid = str(jwt.get_unverified_header(token).get("kid", ""))
            key = await self._key(kid)
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
            principal = Principal(
                user_id=uuid.UUID(claims["sub"]),
                role=Role(claims["role"]),
                issued_at=float(claims.get("iat", 0)),
                expires_at=float(claims["exp"]),
                session_id=str(claims["sid"]) if claims.get("sid") else None,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("Access token expired", reason="TOKEN_EXPIRED") from None
        except (jwt.InvalidTokenError, ValueError, KeyError, TypeError):
            raise Unauthenticated("Invalid access token", reason="TOKEN_INVALID") from None
        if len(self._verified) >= self.remembered_tokens:
            del self._verified[next(iter(self._verified))]  # the oldest
        self._verified[token] = (kid, principal)
        return principal


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` value; None when there is none."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "Authorization must be 'Bearer <access token>'", reason="TOKEN_INVALID"
        )
    return token.strip()
