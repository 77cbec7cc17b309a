"""Catches every Exception around the call, so a service that fails gets the fallback too.

caught by: test_a_call_that_fails_is_not_a_timeout
says: the error was swallowed
"""

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

# A fetch: call it to get a coroutine that asks a service and returns its answer.
Fetch = Callable[[], Coroutine[Any, Any, str]]


async def fetch_or_fallback(
    fetch: Fetch, deadline: float, fallback: str, *, attempts: int = 1
) -> str:
    for _ in range(attempts):
        try:
            # At the deadline, asyncio.timeout cancels the await inside the block...
            async with asyncio.timeout(deadline):
                # A fresh call for each attempt: a coroutine can be awaited only once.
                return await fetch()
        except Exception:
            # Timed out, or failed: either way, try again, then fall back.
            continue
    return fallback


async def fetch_batch_within(fetches: dict[str, Fetch], deadline: float) -> dict[str, str]:
    arrived: dict[str, str] = {}

    async def keep(name: str, fetch: Fetch) -> None:
        # Each answer is stored the moment it arrives, so the deadline cannot take it back.
        arrived[name] = await fetch()

    # One deadline around the whole group: when it passes, the TaskGroup cancels the calls
    # still running and waits for them to stop; the TimeoutError only means "time is up".
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(deadline), asyncio.TaskGroup() as tg:
            for name, fetch in fetches.items():
                tg.create_task(keep(name, fetch))
    return arrived
