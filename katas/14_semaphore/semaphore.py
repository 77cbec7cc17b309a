"""Kata 14: semaphore - fetch many items, never more than `limit` of them at once."""

import asyncio
from collections.abc import Awaitable, Callable

# A fetch: call it with an item to get an awaitable that downloads it and returns its page.
Fetch = Callable[[str], Awaitable[str]]


async def fetch_all_limited(fetch: Fetch, items: list[str], limit: int) -> list[str]:
    """Fetch every item with at most `limit` fetches in flight; return the pages in item order.

    A new fetch starts the moment a running one finishes (a sliding window, not batches):
    six items of 0.1 s with limit=2 take about 0.3 s. A limit below 1 raises ValueError.

    >>> asyncio.run(fetch_all_limited(fetch, ["a", "b", "c"], limit=2))
    ['page a', 'page b', 'page c']
    """
    raise NotImplementedError(
        "write fetch_all_limited(): fetch every item, at most `limit` at once (asyncio.Semaphore)"
    )
