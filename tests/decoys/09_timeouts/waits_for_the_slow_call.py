"""Just awaits fetch(): no deadline at all, so a slow call is waited for to the end.

caught by: test_a_slow_call_gives_the_fallback
says: nothing cut the await short
"""

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

Fetch = Callable[[], Coroutine[Any, Any, str]]


async def fetch_or_fallback(fetch: Fetch, deadline: float, fallback: str) -> str:
    return await fetch()


async def fetch_batch_within(fetches: dict[str, Fetch], deadline: float) -> dict[str, str]:
    arrived: dict[str, str] = {}

    async def keep(name: str, fetch: Fetch) -> None:
        arrived[name] = await fetch()

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(deadline), asyncio.TaskGroup() as tg:
            for name, fetch in fetches.items():
                tg.create_task(keep(name, fetch))
    return arrived
