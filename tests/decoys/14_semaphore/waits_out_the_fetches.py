"""Gathers the limited fetches and, when one fails, waits the others out in a finally.

caught by: test_a_failed_fetch_stops_the_others_before_its_error_goes_up
says: waited out work whose result nobody will use
"""

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
    # Semaphore(0) has no free slot: every fetch would wait for one forever.
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    # ONE semaphore shared by every fetch: it hands out `limit` slots.
    slots = asyncio.Semaphore(limit)

    async def fetch_one(item: str) -> str:
        # Wait for a free slot, keep it during the fetch, give it back when done (even on error).
        async with slots:
            return await fetch(item)

    # Start every fetch at once; the semaphore holds back all but `limit` of them.
    tasks = [asyncio.create_task(fetch_one(item)) for item in items]
    try:
        return await asyncio.gather(*tasks)
    finally:
        await asyncio.wait(tasks)
