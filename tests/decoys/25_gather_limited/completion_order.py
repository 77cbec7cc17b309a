"""Appends each result to the list when its coroutine finishes, so the fastest comes first.

caught by: test_the_results_come_back_in_the_order_of_the_coroutines
says: order of the coroutines
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
        results: list[Any] = []

        async def run(coro: Coroutine[Any, Any, Any]) -> None:
            try:
                result = await coro
            except Exception as error:
                if not return_exceptions:
                    raise
                result = error
            slots.release()
            results.append(result)

        try:
            async with asyncio.TaskGroup() as tg:
                for coro in coros:
                    await slots.acquire()
                    tg.create_task(run(coro))
        except* Exception as group:
            raise group.exceptions[0] from None
    finally:
        for coro in coros:
            coro.close()
    return results
