"""Cancels the batch's late calls at the deadline, but not when its caller is cancelled.

caught by: test_a_cancelled_batch_leaves_no_call_running
says: it had started were still running
"""

import asyncio
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
        except TimeoutError:
            # ...and turns that cancellation into TimeoutError once the call has stopped.
            continue  # this attempt is over: try again, if attempts are left
    return fallback


async def fetch_batch_within(fetches: dict[str, Fetch], deadline: float) -> dict[str, str]:
    tasks = {name: asyncio.create_task(fetch()) for name, fetch in fetches.items()}
    if not tasks:
        return {}
    done, pending = await asyncio.wait(tasks.values(), timeout=deadline)
    for task in pending:  # missed the deadline: stop them, and wait until they have stopped
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    return {name: task.result() for name, task in tasks.items() if task in done}
