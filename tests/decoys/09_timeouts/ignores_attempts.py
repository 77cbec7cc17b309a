"""Keeps the stage 1 answer: one call under one deadline, whatever `attempts` says.

caught by: test_a_retry_after_a_timeout_can_still_bring_the_answer
says: never uses its `attempts` argument
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
    try:
        async with asyncio.timeout(deadline):
            return await fetch()
    except TimeoutError:
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
