"""Forgets the key after a fetch that succeeded, not after one that failed: the error sticks.

caught by: test_a_call_after_a_failed_fetch_fetches_again
says: the failed fetch was remembered
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
        return await asyncio.shield(task)

    async def _fetch(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        async with asyncio.timeout(self.timeout):
            result = await fetch()
        del self._in_flight[key]  # done: the next call fetches again
        return result
