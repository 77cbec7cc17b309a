"""Raises the first error at once but never cancels the coroutines still running: they go on.

caught by: test_a_failure_cancels_the_running_coroutines_and_waits_for_them
says: nothing cancelled it
"""

import asyncio
from collections import deque
from collections.abc import Coroutine, Iterable
from typing import Any


async def gather_limited(
    coros: Iterable[Coroutine[Any, Any, Any]], limit: int, *, return_exceptions: bool = False
) -> list[Any]:
    waiting = deque(coros)
    tasks: list[asyncio.Task[Any]] = []
    running: set[asyncio.Task[Any]] = set()

    async def run(coro: Coroutine[Any, Any, Any]) -> Any:
        try:
            return await coro
        except Exception as error:
            if not return_exceptions:
                raise
            return error

    try:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        while waiting or running:
            while waiting and len(running) < limit:
                task = asyncio.create_task(run(waiting.popleft()))
                tasks.append(task)
                running.add(task)
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                error = task.exception()
                if error is not None:
                    raise error
    finally:
        for coro in waiting:
            coro.close()
    return [task.result() for task in tasks]
