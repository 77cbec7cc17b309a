"""Does not check the limit: with limit=0, Semaphore(0) has no slot and the call hangs.

caught by: test_a_limit_below_one_is_refused_with_valueerror
says: silent deadlock
"""

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any


async def gather_limited(
    coros: Iterable[Coroutine[Any, Any, Any]], limit: int, *, return_exceptions: bool = False
) -> list[Any]:
    coros = list(coros)
    try:
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
    finally:
        for coro in coros:
            coro.close()
    return [task.result() for task in tasks]
