"""Gathers the fetches behind the semaphore: when one fails, the others go on behind its back.

caught by: test_a_failed_fetch_stops_the_others_before_its_error_goes_up
says: asyncio.gather raised the first error
"""

import asyncio
from collections.abc import Awaitable, Callable

Fetch = Callable[[str], Awaitable[str]]


async def fetch_all_limited(fetch: Fetch, items: list[str], limit: int) -> list[str]:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    slots = asyncio.Semaphore(limit)

    async def fetch_one(item: str) -> str:
        async with slots:
            return await fetch(item)

    return await asyncio.gather(*(fetch_one(item) for item in items))
