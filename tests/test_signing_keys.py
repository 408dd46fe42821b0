"""How a subgraph trusts signing keys (shared/auth.py): a key removed from the JWKS stops
being trusted after the keys' TTL, a failed JWKS fetch is not retried on every request and
answers a retryable SERVICE_UNAVAILABLE, and verification allows a small clock skew."""

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest

from shared.auth import (
    CLOCK_SKEW_SECONDS,
    Role,
    TokenSigner,
    TokenVerifier,
    generate_private_key_file,
)
from shared.errors import ServiceUnavailable, Unauthenticated

JWKS_URL = "http://users.test/.well-known/jwks.json"


def _signer(tmp_path: Path, name: str) -> TokenSigner:
    key_file = tmp_path / f"{name}.pem"
    generate_private_key_file(key_file)
    return TokenSigner(key_file, "meetinity-users", "meetinity", 600)


class FakeJwks:
    """A JWKS endpoint whose keys (or failure) a test changes, counting its requests."""

    def __init__(self, *signers: TokenSigner) -> None:
        self.keys = [signer.jwk for signer in signers]
        self.failing = False
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.failing:
            return httpx.Response(503)
        return httpx.Response(200, json={"keys": self.keys})


def _verifier(jwks: FakeJwks) -> TokenVerifier:
    return TokenVerifier(
        "meetinity-users", "meetinity", jwks_url=JWKS_URL, transport=httpx.MockTransport(jwks)
    )


async def test_a_key_removed_from_the_jwks_stops_being_trusted_after_the_ttl(
    tmp_path: Path,
) -> None:
    old, new = _signer(tmp_path, "old"), _signer(tmp_path, "new")
    jwks = FakeJwks(old, new)
    verifier = _verifier(jwks)
    verifier.ttl_seconds = 0.2
    token, _ = old.issue(uuid.uuid4(), Role.MEMBER)
    await verifier.verify(token)
    jwks.keys = [new.jwk]  # the old key is rotated out
    await verifier.verify(token)  # still within the TTL
    await asyncio.sleep(0.3)
    with pytest.raises(Unauthenticated):
        await verifier.verify(token)


async def test_a_failed_jwks_fetch_is_not_retried_on_every_request(tmp_path: Path) -> None:
    signer = _signer(tmp_path, "key")
    jwks = FakeJwks(signer)
    jwks.failing = True
    verifier = _verifier(jwks)
    token, _ = signer.issue(uuid.uuid4(), Role.MEMBER)
    for _ in range(20):
        with pytest.raises(ServiceUnavailable) as refused:
            await verifier.verify(token)
    extensions = refused.value.extensions or {}
    assert extensions["code"] == "SERVICE_UNAVAILABLE"
    assert extensions["retryAfter"] >= 1
    assert jwks.requests == 1
    # Once the endpoint is back and the backoff over, the key is fetched.
    jwks.failing = False
    verifier._retry_at = 0.0  # the backoff has passed
    assert (await verifier.verify(token)).role is Role.MEMBER


async def test_unknown_key_ids_fetch_the_jwks_at_most_once_per_interval(tmp_path: Path) -> None:
    signer, stranger = _signer(tmp_path, "key"), _signer(tmp_path, "stranger")
    jwks = FakeJwks(signer)
    verifier = _verifier(jwks)
    await verifier.verify(signer.issue(uuid.uuid4(), Role.MEMBER)[0])
    for _ in range(20):
        with pytest.raises(Unauthenticated):
            await verifier.verify(stranger.issue(uuid.uuid4(), Role.MEMBER)[0])
    assert jwks.requests == 1  # within the interval after a fetch, unknown ids fetch nothing


async def test_verification_allows_a_small_clock_skew(tmp_path: Path) -> None:
    signer = _signer(tmp_path, "key")
    verifier = TokenVerifier("meetinity-users", "meetinity", jwks=signer.jwks())
    key = signer._private_key
    claims = {
        "sub": str(uuid.uuid4()),
        "role": "member",
        "iss": "meetinity-users",
        "aud": "meetinity",
    }
    headers = {"kid": signer.jwk["kid"]}
    just_expired = jwt.encode(
        {**claims, "exp": int(time.time()) - 10}, key, "RS256", headers=headers
    )
    assert (await verifier.verify(just_expired)).role is Role.MEMBER
    long_expired = jwt.encode(
        {**claims, "exp": int(time.time()) - 120}, key, "RS256", headers=headers
    )
    with pytest.raises(Unauthenticated):
        await verifier.verify(long_expired)


async def test_a_token_is_verified_once_and_remembered_until_it_expires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = _signer(tmp_path, "key")
    verifier = TokenVerifier("meetinity-users", "meetinity", jwks=signer.jwks())
    decoded = 0
    decode = jwt.decode

    def counting_decode(*args: object, **kwargs: object) -> object:
        nonlocal decoded
        decoded += 1
        return decode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting_decode)
    user_id = uuid.uuid4()
    claims = {"sub": str(user_id), "role": "member", "iss": "meetinity-users",
              "aud": "meetinity"}  # fmt: skip
    # Valid for one more second, counting the clock skew allowed.
    expires_at = int(time.time()) - CLOCK_SKEW_SECONDS + 1
    token = jwt.encode({**claims, "exp": expires_at}, signer._private_key, "RS256",
                       headers={"kid": signer.jwk["kid"]})  # fmt: skip
    for _ in range(3):
        assert (await verifier.verify(token)).user_id == user_id
    assert decoded == 1
    await asyncio.sleep(1.5)
    with pytest.raises(Unauthenticated) as refused:
        await verifier.verify(token)
    assert (refused.value.extensions or {})["reason"] == "TOKEN_EXPIRED"
