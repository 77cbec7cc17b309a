"""Fetches in batches of `limit` with one gather per batch, so each batch waits for its slowest.

caught by: test_the_next_fetch_starts_as_soon_as_a_slot_frees_up
says: the whole batch
"""

import asyncio
from collections.abc import Awaitable, Callable

Fetch = Callable[[str], Awaitable[str]]


async def fetch_all_limited(fetch: Fetch, items: list[str], limit: int) -> list[str]:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    pages: list[str] = []
    for start in range(0, len(items), limit):
        batch = items[start : start + limit]
        pages += await asyncio.gather(*(fetch(item) for item in batch))
    return pages
