"""ENVIRONMENT=production: no introspection, no GraphiQL, no field suggestions on the router
and the subgraphs; weak password-hashing settings refused."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from shared.settings import Settings
from tests.support.environment import StackEnvironment, create_environment, destroy_environment
from tools.stack import Stack

INTROSPECTION = "{ __schema { queryType { name } } }"


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackEnvironment]:
    environment = create_environment(Path(tmp_path_factory.mktemp("production")), traced=False)
    environment.config.env.update(
        ENVIRONMENT="production", PASSWORD_HASH_TIME_COST="2", PASSWORD_HASH_MEMORY_KIB="19456"
    )
    stack = Stack(environment.config)
    try:
        # The users subgraph and the router are enough to see both sides.
        stack.start_subgraph("users")
        stack.wait_ready()
        router = stack.start_router()
        router.ready_url = environment.config.url("router", "/healthcheck")
        stack.wait_ready()
        yield environment
    finally:
        stack.stop()
        destroy_environment(environment)


def _codes(response: httpx.Response) -> list[str]:
    return [error["extensions"]["code"] for error in response.json()["errors"]]


def test_production_turns_off_introspection_graphiql_and_suggestions(
    production: StackEnvironment,
) -> None:
    for service in ("router", "users"):
        url = production.config.url(service)
        introspection = httpx.post(url, json={"query": INTROSPECTION}, timeout=30)
        assert set(_codes(introspection)) == {"GRAPHQL_VALIDATION_FAILED"}, (
            service,
            introspection.text,
        )
        typo = httpx.post(url, json={"query": "{ mee { id } }"}, timeout=30)
        assert "did you mean" not in typo.text.lower(), (service, typo.text)
        page = httpx.get(url, headers={"accept": "text/html"}, timeout=30)
        assert "graphiql" not in page.text.lower(), (service, page.text[:200])


def test_production_refuses_weak_password_hashing() -> None:
    with pytest.raises(ValidationError, match="password hashing"):
        Settings(environment="production", password_hash_time_cost=1, password_hash_memory_kib=1024)
    Settings(environment="development", password_hash_time_cost=1, password_hash_memory_kib=1024)
