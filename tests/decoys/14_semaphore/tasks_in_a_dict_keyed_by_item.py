"""Keeps the tasks in a dict keyed by item, returns its values: an item listed twice gets one page.

caught by: test_an_item_listed_twice_is_fetched_twice_and_has_a_page_in_both_places
says: a dict keyed by item
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

    async with asyncio.TaskGroup() as tg:
        tasks = {item: tg.create_task(fetch_one(item)) for item in items}
    return [task.result() for task in tasks.values()]
