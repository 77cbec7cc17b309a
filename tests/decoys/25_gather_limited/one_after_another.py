"""Awaits each coroutine in turn in a for loop: never over the limit, but one at a time.

caught by: test_limit_coroutines_do_run_at_once_not_one_at_a_time
says: only 1 coroutine was running at a time
"""

from collections import deque
from collections.abc import Coroutine, Iterable
from typing import Any


async def gather_limited(
    coros: Iterable[Coroutine[Any, Any, Any]], limit: int, *, return_exceptions: bool = False
) -> list[Any]:
    waiting = deque(coros)
    results: list[Any] = []
    try:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        while waiting:
            coro = waiting.popleft()
            try:
                results.append(await coro)
            except Exception as error:
                if not return_exceptions:
                    raise
                results.append(error)
    finally:
        for coro in waiting:
            coro.close()
    return results
