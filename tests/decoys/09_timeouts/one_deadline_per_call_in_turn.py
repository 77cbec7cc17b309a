"""Gives each call its own wait_for(deadline), one call after another, so the deadlines add up.

caught by: test_the_batch_returns_at_the_deadline
says: one after another, each with a deadline of its own
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
