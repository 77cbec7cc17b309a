"""The guard for n = 0 stops n = 1 too: `n <= 1` where `n < 1` belongs.

caught by: test_first_n_of_one_item_fetches_only_the_first_page
says: the guard for n = 0 stops n = 1 too
"""

import contextlib
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Page:
    """One page of results, and the cursor that asks for the next one (None on the last page)."""

    items: list[str]
    next_cursor: str | None


class Session(Protocol):
    """An open connection to the API: it must be closed once you are done with it."""

    async def fetch_page(self, cursor: str | None) -> Page:
        """The page at `cursor` (None: the first page). Takes 0.1 s."""
        ...

    async def close(self) -> None:
        """Close the session. Nothing can be fetched afterwards."""
        ...


class Api(Protocol):
    """The paged API."""

    async def open_session(self) -> Session:
        """Open a session to fetch pages with."""
        ...


async def iter_items(api: Api) -> AsyncGenerator[str, None]:
    """Yield every item of every page, in order, fetching each page only when it is needed.

    An async generator: opens one session, fetches the first page (cursor None), yields its
    items one by one, and fetches the next page (page.next_cursor) only when the consumer asks
    for the item after the last one it has. However the stream ends (the last page done, the
    consumer stopping early, an error), the session is closed.

    >>> [item async for item in iter_items(api)]
    ['item 1', 'item 2', 'item 3', 'item 4', 'item 5', 'item 6', 'item 7']
    """
    session = await api.open_session()
    # `finally` runs however the stream ends: last page done, closed early, or an error.
    try:
        cursor: str | None = None
        while True:
            # Fetched only now, when the consumer asks for an item after the last one it got.
            page = await session.fetch_page(cursor)
            for item in page.items:
                yield item  # paused here until the consumer asks for the next item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor
    finally:
        await session.close()


async def first_n(api: Api, n: int) -> list[str]:
    """The first `n` items (fewer if there are not that many), read from iter_items.

    Fetches no page it does not need (none at all for n = 0), and the stream's session is
    closed before it returns.

    >>> await first_n(api, 2)
    ['item 1', 'item 2']
    """
    found: list[str] = []
    if n <= 1:
        return found  # nothing asked for: no session opened, no page fetched
    # aclosing closes the generator when the block ends, so its `finally` runs now, not at some
    # later garbage collection.
    async with contextlib.aclosing(iter_items(api)) as items:
        async for item in items:
            found.append(item)
            if len(found) == n:
                break  # ask for nothing more: no page beyond this one is fetched
    return found


async def collect_matching(api: Api, predicate: Callable[[str], bool]) -> list[str]:
    """Every item of iter_items for which `predicate(item)` is true, in order, as a list.

    The stream's session is closed before it returns, even when `predicate` raises.

    >>> await collect_matching(api, lambda item: item.endswith(("1", "3")))
    ['item 1', 'item 3']
    """
    # An async comprehension awaits each item; aclosing closes the stream if predicate raises.
    async with contextlib.aclosing(iter_items(api)) as items:
        return [item async for item in items if predicate(item)]
