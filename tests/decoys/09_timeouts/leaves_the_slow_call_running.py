"""Waits with asyncio.wait(timeout=deadline) and returns the fallback, but never cancels the call.

caught by: test_a_slow_call_gives_the_fallback
says: made with asyncio.create_task, and nothing cancelled
"""

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

Fetch = Callable[[], Coroutine[Any, Any, str]]


async def fetch_or_fallback(fetch: Fetch, deadline: float, fallback: str) -> str:
    task = asyncio.create_task(fetch())
    done, _ = await asyncio.wait({task}, timeout=deadline)
    if task in done:
        return task.result()
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
