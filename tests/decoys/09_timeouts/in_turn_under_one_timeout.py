"""Awaits the calls one after another inside one asyncio.timeout, so the later ones start too late.

caught by: test_every_airline_is_asked_at_once
says: did not all run at the same time
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
