"""Creates the task first and takes a slot only after it, so limit + 1 coroutines run at once.

caught by: test_never_more_than_limit_coroutines_run_at_once
says: one more than the limit
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

        try:
            async with asyncio.TaskGroup() as tg:
                for coro in coros:
                    tasks.append(tg.create_task(run(coro)))
                    await slots.acquire()
        except* Exception as group:
            raise group.exceptions[0] from None
    finally:
        for coro in coros:
            coro.close()
    return [task.result() for task in tasks]
