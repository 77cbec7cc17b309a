"""Stage 2: each caller waits at most `timeout` from when IT called, not from the fetch's start.

A caller joining late waits longer than the deadline, and the fetch itself runs on.

caught by: test_a_slow_fetch_times_out_for_all_its_callers_at_one_deadline
says: a timeout per caller
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
        async with asyncio.timeout(self.timeout):  # wait no longer than the timeout
            return await asyncio.shield(task)

    async def _fetch(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fetch()
        finally:
            del self._in_flight[key]
