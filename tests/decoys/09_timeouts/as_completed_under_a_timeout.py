"""Collects the fares in an as_completed loop under asyncio.timeout: the late calls keep running.

caught by: test_the_batch_keeps_the_fares_that_arrived_in_time
says: started by asyncio.as_completed
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
    async def named(name: str, fetch: Fetch) -> tuple[str, str]:
        return name, await fetch()

    arrived = {}
    try:
        async with asyncio.timeout(deadline):
            for next_done in asyncio.as_completed([named(n, f) for n, f in fetches.items()]):
                name, fare = await next_done
                arrived[name] = fare
    except TimeoutError:
        pass
    return arrived
