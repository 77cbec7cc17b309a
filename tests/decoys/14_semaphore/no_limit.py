"""Gathers every fetch at once and never uses the limit: all of them are in flight together.

caught by: test_never_more_than_limit_fetches_at_once
says: nothing limited them
"""

import asyncio
from collections.abc import Awaitable, Callable

Fetch = Callable[[str], Awaitable[str]]


async def fetch_all_limited(fetch: Fetch, items: list[str], limit: int) -> list[str]:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    return await asyncio.gather(*(fetch(item) for item in items))
