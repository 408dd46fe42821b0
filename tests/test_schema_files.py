"""The committed schema files are exactly what the code produces."""

import pytest

from tools.schema import CompositionError, compose, compose_sdls, export_all


def test_committed_schema_files_are_up_to_date() -> None:
    stale = export_all(check=True) + compose(check=True)
    assert stale == [], f"stale schema files {stale}: run `make schema` and commit schema/"


def test_composition_errors_carry_the_composers_message() -> None:
    link = '@link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])'
    subgraphs = [
        {"name": "a", "url": "http://a/graphql",
         "sdl": f'extend schema {link}\ntype Thing @key(fields: "id") {{ id: ID! size: Int }}\n'
                'type Query { thing: Thing }'},
        {"name": "b", "url": "http://b/graphql",
         "sdl": f'extend schema {link}\ntype Thing @key(fields: "id") {{ id: ID! size: String }}\n'
                'type Query { other: Thing }'},
    ]  # fmt: skip
    with pytest.raises(CompositionError) as failure:
        compose_sdls(subgraphs)
    assert "Thing.size" in str(failure.value)
