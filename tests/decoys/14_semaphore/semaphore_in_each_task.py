"""Creates the semaphore inside each task, so every fetch has its own and none ever waits.

caught by: test_never_more_than_limit_fetches_at_once
says: once for each fetch
"""

import asyncio
from collections.abc import Awaitable, Callable

Fetch = Callable[[str], Awaitable[str]]


async def fetch_all_limited(fetch: Fetch, items: list[str], limit: int) -> list[str]:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")

    async def fetch_one(item: str) -> str:
        async with asyncio.Semaphore(limit):
            return await fetch(item)

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(fetch_one(item)) for item in items]
    return [task.result() for task in tasks]
