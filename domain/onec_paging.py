"""Where the next page of a 1C entity set starts, in a form an activity can heartbeat and resume from.

Why not plain `$skip`: an offset counts rows, so a row inserted before it makes the next page repeat one, and a
row deleted before it (1C's "delete marked objects") makes the next page skip one, for good. Why not the usual
keyset on the key (`Ref_Key gt guid'...'`): real 1C answers it with 500 ("Нельзя сравнивать поля неограниченной
длины и поля несовместимых типов"), and `$orderby=Ref_Key` sorts by the object's presentation, not by the guid.

So the keyset is a plain-typed field that 1C can compare and sort on (a document's `Date`, a catalog's `Code`),
and ties are broken by an offset *within one value of that field*: `$filter=Date ge <key>` + `$skip=<rows already
taken at key>`. Inserts and deletions elsewhere cannot shift a page; at worst, a change at exactly the key's value
repeats a row (harmless: the caller upserts by Ref_Key) or, for a deletion of a row already read at that value,
skips one. `OFFSET` mode (key never set) is the plain `$skip` paging, for comparison and as a fallback.
"""

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

R = TypeVar("R")


class Paging(StrEnum):
    KEYSET = "keyset"
    OFFSET = "offset"


class PageCursor(BaseModel):
    """Start of the next page: rows whose ordering value is >= `key` (all rows when None), minus the first `skip`."""

    key: str | None = None
    skip: int = Field(default=0, ge=0)


class Page(BaseModel, Generic[R]):
    rows: list[R]
    more: bool
    next: PageCursor


def advance(cursor: PageCursor, rows: Sequence[R], key_of: Callable[[R], str], paging: Paging) -> PageCursor:
    """The cursor after `rows`, read from `cursor` in ascending order of `key_of`."""
    if not rows:
        return cursor
    if paging is Paging.OFFSET:
        return PageCursor(key=cursor.key, skip=cursor.skip + len(rows))
    last = key_of(rows[-1])
    if last == cursor.key:
        # The whole page shares the cursor's value (more rows at one instant than a page holds): go deeper into it.
        return PageCursor(key=last, skip=cursor.skip + len(rows))
    return PageCursor(key=last, skip=sum(1 for row in rows if key_of(row) == last))


async def pages(
    read: Callable[[PageCursor], Awaitable[Page[R]]], start: PageCursor | None = None
) -> AsyncIterator[Page[R]]:
    """The pages `read(cursor)` gives from `start` (the first page when None) on, following `next` while `more`."""
    cursor = start or PageCursor()
    while True:
        page = await read(cursor)
        yield page
        if not page.more:
            return
        cursor = page.next
