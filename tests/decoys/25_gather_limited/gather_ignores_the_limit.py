"""Hands everything to asyncio.gather when return_exceptions=True, which has no limit at all.

caught by: test_return_exceptions_keeps_the_limit
says: which has no limit
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
        if return_exceptions:
            return await asyncio.gather(*coros, return_exceptions=True)
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
