"""Access tokens: RS256 JWTs signed by the users subgraph, verified by every subgraph.

The users subgraph holds the private key and publishes the public key as a JWKS;
the other subgraphs fetch that JWKS and verify each token themselves, so no
subgraph ever trusts a user id merely because a header carries it.
"""

import asyncio
import base64
import hashlib
import json
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

from shared.errors import Forbidden, Unauthenticated

ALGORITHM = "RS256"


class Role(StrEnum):
    MEMBER = "member"
    ORGANIZER = "organizer"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling, as proven by a verified access token."""

    user_id: uuid.UUID
    role: Role

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
        self._issuer = issuer
        self._audience = audience
        self._ttl = timedelta(seconds=ttl_seconds)

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [self.jwk]}

    def issue(self, user_id: uuid.UUID, role: Role) -> tuple[str, datetime]:
        now = datetime.now(UTC)
        expires_at = now + self._ttl
        claims = {
            "sub": str(user_id),
            "role": role.value,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": now,
            "exp": expires_at,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self._private_key, ALGORITHM, headers={"kid": self.jwk["kid"]})
        return token, expires_at


class TokenVerifier:
    """Verifies access tokens against a JWKS, fetched lazily and again for an unknown key id."""

    refetch_interval_seconds = 10.0

    def __init__(
        self,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        jwks: dict[str, Any] | None = None,
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._jwks_url = jwks_url
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        if jwks is not None:
            self._load(jwks)

    def _load(self, jwks: dict[str, Any]) -> None:
        self._keys = {key["kid"]: jwt.PyJWK(key).key for key in jwks.get("keys", [])}

    async def _key(self, kid: str) -> Any:
        if kid not in self._keys and self._jwks_url is not None:
            async with self._lock:
                stale = time.monotonic() - self._fetched_at > self.refetch_interval_seconds
                if kid not in self._keys and stale:
                    async with httpx.AsyncClient(timeout=5) as client:
                        response = await client.get(self._jwks_url)
                        response.raise_for_status()
                    self._load(response.json())
                    self._fetched_at = time.monotonic()
        if kid not in self._keys:
            raise Unauthenticated("Access token was signed by an unknown key")
        return self._keys[kid]

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            key = await self._key(str(header.get("kid", "")))
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
            return Principal(user_id=uuid.UUID(claims["sub"]), role=Role(claims["role"]))
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("Access token expired", reason="TOKEN_EXPIRED") from None
        except (jwt.InvalidTokenError, ValueError, KeyError):
            raise Unauthenticated("Invalid access token", reason="TOKEN_INVALID") from None


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
