"""Gathers every fare with no deadline at all, so the batch waits for the slowest airline.

caught by: test_the_batch_keeps_the_fares_that_arrived_in_time
says: waited for the slowest call
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
    fares = await asyncio.gather(*(fetch() for fetch in fetches.values()))
    return dict(zip(fetches, fares, strict=True))
