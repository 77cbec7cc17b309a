"""Awaits the calls one after another inside one asyncio.timeout, so the later ones start too late.

caught by: test_the_batch_keeps_the_fares_that_arrived_in_time
says: the calls ran one after another, so by the time
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
    arrived = {}
    try:
        async with asyncio.timeout(deadline):
            for name, fetch in fetches.items():
                arrived[name] = await fetch()
    except TimeoutError:
        pass
    return arrived
