"""Starts every call, sleeps for the deadline, then keeps what is done: an early batch waits too.

caught by: test_an_empty_batch_returns_at_once_with_no_fares
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
    try:
        await asyncio.sleep(deadline)
    finally:  # cancelled or not, what is still running stops here
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    return {name: task.result() for name, task in tasks.items() if not task.cancelled()}
