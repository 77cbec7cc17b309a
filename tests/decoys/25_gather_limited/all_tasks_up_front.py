"""Creates a task for every coroutine at once, each waiting on the semaphore: 30 tasks for 5 slots.

caught by: test_only_limit_tasks_exist_at_once_however_many_coroutines
says: created as tasks up front
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

        async def run(coro: Coroutine[Any, Any, Any]) -> Any:
            async with slots:
                try:
                    return await coro
                except Exception as error:
                    if not return_exceptions:
                        raise
                    return error

        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(run(coro)) for coro in coros]
        except* Exception as group:
            raise group.exceptions[0] from None
    finally:
        for coro in coros:
            coro.close()
    return [task.result() for task in tasks]
