"""The users subgraph: `uvicorn subgraphs.users.app:app`."""

from typing import Any

from fastapi import FastAPI, Request

from shared.app import Subgraph, create_app
from shared.auth import TokenSigner, TokenVerifier, generate_private_key_file
from shared.settings import Settings
from subgraphs.users.context import get_context
from subgraphs.users.models import outbox
from subgraphs.users.schema import schema


def token_signer(settings: Settings) -> TokenSigner:
    key_file = settings.jwt_private_key_file
    if not key_file.exists():
        if settings.environment == "production":
            raise RuntimeError(f"JWT private key {key_file} is missing")
        generate_private_key_file(key_file)
    return TokenSigner(
        key_file, settings.jwt_issuer, settings.jwt_audience, settings.access_token_ttl_seconds
    )


def local_verifier(app: FastAPI) -> TokenVerifier:
    """The users subgraph holds the key, so it verifies without fetching its own JWKS."""
    settings: Settings = app.state.settings
    return TokenVerifier(settings.jwt_issuer, settings.jwt_audience, jwks=app.state.signer.jwks())


async def load_signer(app: FastAPI) -> None:
    app.state.signer = token_signer(app.state.settings)


app = create_app(
    Subgraph(
        name="users",
        schema=schema,
        context_getter=get_context,
        verifier=local_verifier,
        outbox=outbox,
        on_startup=[load_signer],
    )
)


@app.get("/.well-known/jwks.json")
async def jwks(request: Request) -> dict[str, list[dict[str, Any]]]:
    signer: TokenSigner = request.app.state.signer
    return signer.jwks()
