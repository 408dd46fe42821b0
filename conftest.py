"""Fixtures for every test: one private stack (database, Redis prefix, services) per run."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.environment import (
    StackEnvironment,
    create_environment,
    destroy_environment,
    running_stack,
)
from tests.support.graphql import GraphQLClient
from tools.stack import Stack


@pytest.fixture(scope="session")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackEnvironment]:
    environment = create_environment(Path(tmp_path_factory.mktemp("stack")))
    yield environment
    destroy_environment(environment)


@pytest.fixture(scope="session")
def stack(environment: StackEnvironment) -> Iterator[Stack]:
    yield from running_stack(environment)


@pytest.fixture(scope="session")
async def api(stack: Stack, environment: StackEnvironment) -> AsyncIterator[GraphQLClient]:
    client = GraphQLClient(environment.router_url)
    yield client
    await client.close()
