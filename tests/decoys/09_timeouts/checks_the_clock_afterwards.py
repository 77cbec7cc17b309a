"""Times the call and returns the fallback if it took longer than the deadline, once it is over.

caught by: test_the_fallback_comes_at_the_deadline_not_when_the_slow_call_ends
says: waited for the slow call to finish
"""

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any

Fetch = Callable[[], Coroutine[Any, Any, str]]


async def fetch_or_fallback(fetch: Fetch, deadline: float, fallback: str) -> str:
    started = time.monotonic()
    answer = await fetch()
    if time.monotonic() - started > deadline:
        return fallback
    return answer


async def fetch_batch_within(fetches: dict[str, Fetch], deadline: float) -> dict[str, str]:
    arrived: dict[str, str] = {}

    async def keep(name: str, fetch: Fetch) -> None:
        arrived[name] = await fetch()

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(deadline), asyncio.TaskGroup() as tg:
            for name, fetch in fetches.items():
                tg.create_task(keep(name, fetch))
    return arrived
