"""Starts every call, sleeps for the deadline, then keeps what is done: an early batch waits too.

caught by: test_a_batch_that_answers_early_does_not_wait_for_the_deadline
says: waited out the whole 0.2 s deadline
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
    await asyncio.sleep(deadline)
    for task in tasks.values():
        task.cancel()
    await asyncio.wait(tasks.values())
    return {name: task.result() for name, task in tasks.items() if not task.cancelled()}
