"""On a failure, cancels the running tasks but leaves the coroutines it never started unclosed.

caught by: test_a_failure_closes_the_coroutines_it_never_started
says: never awaited
"""

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any


async def gather_limited(
    coros: Iterable[Coroutine[Any, Any, Any]], limit: int, *, return_exceptions: bool = False
) -> list[Any]:
    coros = list(coros)
    if limit < 1:
        for coro in coros:
            coro.close()
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
                await slots.acquire()
                tasks.append(tg.create_task(run(coro)))
    except* Exception as group:
        raise group.exceptions[0] from None
    return [task.result() for task in tasks]
