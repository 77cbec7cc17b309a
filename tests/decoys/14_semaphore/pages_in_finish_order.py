"""Runs `limit` workers that append each page as its fetch finishes: the order is lost.

caught by: test_the_pages_come_back_in_the_order_of_the_items
says: order of the items
"""

import asyncio
from collections.abc import Awaitable, Callable

Fetch = Callable[[str], Awaitable[str]]


async def fetch_all_limited(fetch: Fetch, items: list[str], limit: int) -> list[str]:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    todo = iter(items)
    pages: list[str] = []

    async def worker() -> None:
        for item in todo:
            pages.append(await fetch(item))

    async with asyncio.TaskGroup() as tg:
        for _ in range(limit):
            tg.create_task(worker())
    return pages
