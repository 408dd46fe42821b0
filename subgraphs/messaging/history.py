"""Reading a conversation's messages, in pages both ways over `seq`.

`seq` is assigned under the conversation's lock and each message commits before the
next one gets its number, so a page read while others send never skips one that
commits later: the order, the cursor and the keyset condition are all `seq`.
"""

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from shared.db import Database
from shared.errors import BadUserInput
from shared.pagination import cursor_values, encode_cursor
from subgraphs.messaging.models import MessageRow

DEFAULT_PAGE = 20
MAX_PAGE = 100
ORDER = [MessageRow.seq]


@dataclass(frozen=True)
class Page:
    rows: list[MessageRow]  # oldest first
    has_next: bool
    has_previous: bool


def cursor(row: MessageRow) -> str:
    return encode_cursor(row.seq)


def _seq(value: str | None, field: str) -> int | None:
    if value is None:
        return None
    try:
        (seq,) = cursor_values(ORDER, value)
    except BadUserInput:
        raise BadUserInput(f"{field} is not a cursor this list gave out", field=field) from None
    return int(seq)


def _size(value: int | None, field: str) -> int:
    size = DEFAULT_PAGE if value is None else value
    if not 1 <= size <= MAX_PAGE:
        raise BadUserInput(f"{field} must be between 1 and {MAX_PAGE}", field=field)
    return size


async def page(
    db: Database,
    conversation_id: uuid.UUID,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page:
    if (first is not None or after is not None) and (last is not None or before is not None):
        raise BadUserInput("Page forwards (first, after) or backwards (last, before), not both")
    forwards = first is not None or after is not None
    size = _size(first if forwards else last, "first" if forwards else "last")
    after_seq, before_seq = _seq(after, "after"), _seq(before, "before")
    query = select(MessageRow).where(MessageRow.conversation_id == conversation_id)
    if forwards:
        query = query.where(MessageRow.seq > (after_seq or 0)).order_by(MessageRow.seq)
    else:
        if before_seq is not None:
            query = query.where(MessageRow.seq < before_seq)
        query = query.order_by(MessageRow.seq.desc())
    async with db.transaction() as session:
        rows = list(await session.scalars(query.limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    if forwards:
        return Page(rows, has_next=more, has_previous=bool(after_seq))
    rows.reverse()
    return Page(rows, has_next=before_seq is not None, has_previous=more)
