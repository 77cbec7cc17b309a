"""Gives each call its own wait_for(deadline), one call after another, so the deadlines add up.

caught by: test_every_airline_is_asked_at_once
says: one deadline per call, in turn
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
    for name, fetch in fetches.items():
        try:
            arrived[name] = await asyncio.wait_for(fetch(), deadline)
        except TimeoutError:
            pass
    return arrived
