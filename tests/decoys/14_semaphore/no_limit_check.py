"""Does not check the limit: with limit=0, Semaphore(0) lets no fetch in and the call hangs.

caught by: test_a_limit_below_one_is_refused_with_valueerror
says: silent deadlock
"""

import asyncio
from collections.abc import Awaitable, Callable

Fetch = Callable[[str], Awaitable[str]]


async def fetch_all_limited(fetch: Fetch, items: list[str], limit: int) -> list[str]:
    slots = asyncio.Semaphore(limit)

    async def fetch_one(item: str) -> str:
        async with slots:
            return await fetch(item)

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(fetch_one(item)) for item in items]
    return [task.result() for task in tasks]
