"""Cancels the pending calls at the deadline but returns without awaiting them, so they still run.

caught by: test_the_batch_keeps_the_fares_that_arrived_in_time
says: cancel() without awaiting the cancelled tasks
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
    done, pending = await asyncio.wait(tasks.values(), timeout=deadline)
    for task in pending:
        task.cancel()
    return {name: task.result() for name, task in tasks.items() if task in done}
