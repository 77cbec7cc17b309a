"""Runs the coroutines in batches of `limit`, so each batch waits for its slowest before the next.

caught by: test_the_next_coroutine_starts_as_soon_as_a_slot_frees_up
says: a whole batch
"""

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any


async def gather_limited(
    coros: Iterable[Coroutine[Any, Any, Any]], limit: int, *, return_exceptions: bool = False
) -> list[Any]:
    coros = list(coros)
    results: list[Any] = []

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
        try:
            for start in range(0, len(coros), limit):
                async with asyncio.TaskGroup() as tg:
                    tasks = [tg.create_task(run(coro)) for coro in coros[start : start + limit]]
                results += [task.result() for task in tasks]
        except* Exception as group:
            raise group.exceptions[0] from None
    finally:
        for coro in coros:
            coro.close()
    return results
