"""Keeps the timed-out call running while it retries, in case it still answers: two calls at once.

caught by: test_a_timed_out_attempt_is_cancelled_before_the_retry_starts
says: was still running when the retry started
"""

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

Fetch = Callable[[], Coroutine[Any, Any, str]]


async def fetch_or_fallback(
    fetch: Fetch, deadline: float, fallback: str, *, attempts: int = 1
) -> str:
    calls: list[asyncio.Task[str]] = []
    try:
        for _ in range(attempts):
            calls.append(asyncio.create_task(fetch()))
            done, _ = await asyncio.wait(
                calls, timeout=deadline, return_when=asyncio.FIRST_COMPLETED
            )
            if done:
                return done.pop().result()
        return fallback
    finally:
        for call in calls:
            call.cancel()
        await asyncio.wait(calls)


async def fetch_batch_within(fetches: dict[str, Fetch], deadline: float) -> dict[str, str]:
    arrived: dict[str, str] = {}

    async def keep(name: str, fetch: Fetch) -> None:
        arrived[name] = await fetch()

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(deadline), asyncio.TaskGroup() as tg:
            for name, fetch in fetches.items():
                tg.create_task(keep(name, fetch))
    return arrived
