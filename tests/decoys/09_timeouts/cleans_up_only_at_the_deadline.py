"""Runs the call as a task and cancels it at the deadline, but not when its caller is cancelled.

caught by: test_a_cancelled_fetch_or_fallback_leaves_no_call_running
says: it had started were still running
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
        call = asyncio.create_task(fetch())
        done, _ = await asyncio.wait({call}, timeout=deadline)
        if call in done:
            return call.result()
        call.cancel()  # missed the deadline: stop it, and wait until it has stopped
        await asyncio.wait({call})
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
