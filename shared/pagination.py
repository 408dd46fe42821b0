"""Cursor connections (Relay style) with keyset pagination."""

import base64
import json
from datetime import datetime
from typing import Any, Generic, TypeVar

import strawberry
from sqlalchemy import ColumnElement, tuple_
from strawberry.federation.schema_directives import ListSize

from shared.errors import BadUserInput

NodeT = TypeVar("NodeT")

# Demand control (the router's cost budget, docs/architecture.md "Limits"): every list
# field says how long it can be. A connection is as long as its `first` argument (or
# its default), a list without one by an assumed size. (Strawberry's mypy plugin takes
# ListSize's optional arguments for required ones.)
PAGED = [
    ListSize(  # type: ignore[call-arg]
        slicing_arguments=["first"], sized_fields=["edges"], require_one_slicing_argument=False
    )
]


def assumed_size(size: int) -> list[ListSize]:
    return [ListSize(assumed_size=size, require_one_slicing_argument=False)]  # type: ignore[call-arg]


@strawberry.federation.type(shareable=True)  # every subgraph with lists defines it
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo

    @classmethod
    def of(cls, nodes: list[tuple[str, NodeT]], has_next_page: bool) -> "Connection[NodeT]":
        edges = [Edge(cursor=cursor, node=node) for cursor, node in nodes]
        end_cursor = edges[-1].cursor if edges else None
        return cls(
            edges=edges, page_info=PageInfo(has_next_page=has_next_page, end_cursor=end_cursor)
        )


def encode_cursor(*values: Any) -> str:
    raw = json.dumps([str(value) for value in values]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_values(columns: list[Any], cursor: str) -> list[Any]:
    """The values `encode_cursor` put in the cursor, typed like the columns it orders by."""

    def parse(column: Any, value: object) -> Any:
        python_type = column.type.python_type
        return datetime.fromisoformat(str(value)) if python_type is datetime else python_type(value)

    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(values, list) and len(values) == len(columns):
            return [parse(column, value) for column, value in zip(columns, values, strict=True)]
    except (ValueError, TypeError):
        pass
    raise BadUserInput("after is not a cursor this list gave out", field="after")


def after(columns: list[Any], values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after the cursor position in the (ascending) order of `columns`."""
    return tuple_(*columns) > tuple_(*values)
