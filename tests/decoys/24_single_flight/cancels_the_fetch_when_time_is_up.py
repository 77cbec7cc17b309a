"""Stage 2: cancels the fetch's task when the time is up, so callers end cancelled, not timed out.

caught by: test_a_slow_fetch_times_out_for_all_its_callers_at_one_deadline
says: instead of TimeoutError
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = timeout
        self._in_flight: dict[str, asyncio.Task[T]] = {}

    async def do(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        task = self._in_flight.get(key)
        if task is None:
            task = asyncio.create_task(self._fetch(key, fetch))
            self._in_flight[key] = task
            if self.timeout is not None:  # stop the fetch when its time is up
                asyncio.get_running_loop().call_later(self.timeout, task.cancel)
        return await asyncio.shield(task)

    async def _fetch(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fetch()
        finally:
            del self._in_flight[key]
