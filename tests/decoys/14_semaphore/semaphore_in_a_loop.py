"""Takes the semaphore around each fetch but awaits them in a for loop: one fetch at a time.

caught by: test_limit_fetches_run_at_once_not_one_at_a_time
says: one at a time
"""

import asyncio
from collections.abc import Awaitable, Callable

Fetch = Callable[[str], Awaitable[str]]


async def fetch_all_limited(fetch: Fetch, items: list[str], limit: int) -> list[str]:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    slots = asyncio.Semaphore(limit)
    pages = []
    for item in items:
        async with slots:
            pages.append(await fetch(item))
    return pages
