"""Holds one lock from the lookup to the end of the wait, so callers queue up and refetch.

Each caller waits for the lock until the previous fetch is over and its key forgotten, then
fetches again: five callers of one key make five fetches, one after another.

caught by: test_five_callers_of_one_key_share_one_fetch
says: one after another
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = timeout
        self._in_flight: dict[str, asyncio.Task[T]] = {}
        self._lock = asyncio.Lock()

    async def do(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        async with self._lock:  # no two callers touch the dict at once
            task = self._in_flight.get(key)
            if task is None:
                task = asyncio.create_task(self._fetch(key, fetch))
                self._in_flight[key] = task
            return await asyncio.shield(task)

    async def _fetch(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self.timeout):
                return await fetch()
        finally:
            del self._in_flight[key]
