"""Starts the call, sleeps for the deadline, then looks whether it is done: always the deadline.

caught by: test_a_fast_answer_comes_back_at_once_without_waiting_for_the_deadline
says: waited out the whole 0.2 s deadline
"""

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

Fetch = Callable[[], Coroutine[Any, Any, str]]


async def fetch_or_fallback(fetch: Fetch, deadline: float, fallback: str) -> str:
    task = asyncio.create_task(fetch())
    await asyncio.sleep(deadline)
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.wait({task})
    return fallback


async def fetch_batch_within(fetches: dict[str, Fetch], deadline: float) -> dict[str, str]:
    arrived: dict[str, str] = {}

    async def keep(name: str, fetch: Fetch) -> None:
        arrived[name] = await fetch()

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(deadline), asyncio.TaskGroup() as tg:
            for name, fetch in fetches.items():
                tg.create_task(keep(name, fetch))
    return arrived
