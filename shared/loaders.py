"""DataLoader helpers: one SQL statement per batch, whatever the number of keys."""

from collections.abc import Hashable, Sequence
from typing import Any, TypeVar

from aiodataloader import DataLoader
from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute

from shared.db import Database

RowT = TypeVar("RowT")


def rows_by_key(
    db: Database, model: type[RowT], key: InstrumentedAttribute[Any]
) -> "DataLoader[Any, RowT | None]":
    """Loads the row of `model` whose `key` column equals each key (None when absent)."""

    async def load(keys: Sequence[Hashable]) -> list[RowT | None]:
        async with db.transaction() as session:
            rows = (await session.scalars(select(model).where(key.in_(keys)))).all()
        found = {getattr(row, key.key): row for row in rows}
        return [found.get(k) for k in keys]

    return DataLoader(load)
