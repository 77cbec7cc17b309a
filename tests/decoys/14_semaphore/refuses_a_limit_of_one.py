"""Refuses `limit <= 1` where `limit < 1` was meant: a limit of 1, one at a time, gets ValueError.

caught by: test_a_limit_of_one_fetches_one_item_at_a_time
says: a limit of 1 is legal
"""

import asyncio
from collections.abc import Awaitable, Callable

Fetch = Callable[[str], Awaitable[str]]


async def fetch_all_limited(fetch: Fetch, items: list[str], limit: int) -> list[str]:
    if limit <= 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    slots = asyncio.Semaphore(limit)

    async def fetch_one(item: str) -> str:
        async with slots:
            return await fetch(item)

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(fetch_one(item)) for item in items]
    return [task.result() for task in tasks]
