"""Lets the TaskGroup's ExceptionGroup out instead of the coroutine's own error.

caught by: test_the_first_failure_is_raised_itself_at_about_its_time
says: wrapped in an ExceptionGroup
"""

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any


async def gather_limited(
    coros: Iterable[Coroutine[Any, Any, Any]], limit: int, *, return_exceptions: bool = False
) -> list[Any]:
    coros = list(coros)
    try:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        slots = asyncio.Semaphore(limit)
        tasks: list[asyncio.Task[Any]] = []

        async def run(coro: Coroutine[Any, Any, Any]) -> Any:
            try:
                result = await coro
            except Exception as error:
                if not return_exceptions:
                    raise
                result = error
            slots.release()
            return result

        async with asyncio.TaskGroup() as tg:
            for coro in coros:
                await slots.acquire()
                tasks.append(tg.create_task(run(coro)))
    finally:
        for coro in coros:
            coro.close()
    return [task.result() for task in tasks]
