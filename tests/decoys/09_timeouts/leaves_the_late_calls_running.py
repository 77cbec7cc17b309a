"""Uses asyncio.wait(timeout=deadline) and keeps what is done, but never cancels the pending calls.

caught by: test_the_batch_keeps_the_fares_that_arrived_in_time
says: made with asyncio.create_task, and nothing cancelled
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

Fetch = Callable[[], Coroutine[Any, Any, str]]


async def fetch_or_fallback(fetch: Fetch, deadline: float, fallback: str) -> str:
    try:
        async with asyncio.timeout(deadline):
            return await fetch()
    except TimeoutError:
        return fallback


async def fetch_batch_within(fetches: dict[str, Fetch], deadline: float) -> dict[str, str]:
    tasks = {name: asyncio.create_task(fetch()) for name, fetch in fetches.items()}
    done, _ = await asyncio.wait(tasks.values(), timeout=deadline)
    return {name: task.result() for name, task in tasks.items() if task in done}
