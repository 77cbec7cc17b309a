"""Checks `limit == 0` only: with limit=-1 `range(limit)` starts no worker, so nothing runs.

caught by: test_a_limit_below_one_is_refused_with_valueerror
says: the check catches 0 only
"""

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any


async def gather_limited(
    coros: Iterable[Coroutine[Any, Any, Any]], limit: int, *, return_exceptions: bool = False
) -> list[Any]:
    coros = list(coros)
    try:
        if limit == 0:  # a negative limit slips through
            raise ValueError(f"limit must be at least 1, not {limit}")
        results: list[Any] = [None] * len(coros)
        # One shared iterator: each worker takes the next coroutine when it is free.
        queued = iter(enumerate(coros))

        async def worker() -> None:
            for index, coro in queued:
                try:
                    results[index] = await coro
                except Exception as error:
                    if not return_exceptions:
                        raise
                    results[index] = error

        try:
            async with asyncio.TaskGroup() as tg:
                for _ in range(min(limit, len(coros))):
                    tg.create_task(worker())
        except* Exception as group:
            raise group.exceptions[0] from None
    finally:
        for coro in coros:
            coro.close()
    return results
