"""Keeps the stage 1 answer: with return_exceptions=True the first error is still raised.

caught by: test_return_exceptions_puts_each_error_in_the_place_of_its_coroutine
says: instead of returning it in the list
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
            result = await coro
            slots.release()
            return result

        try:
            async with asyncio.TaskGroup() as tg:
                for coro in coros:
                    await slots.acquire()
                    tasks.append(tg.create_task(run(coro)))
        except* Exception as group:
            raise group.exceptions[0] from None
    finally:
        for coro in coros:
            coro.close()
    return [task.result() for task in tasks]
