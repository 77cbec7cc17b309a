"""Holds one lock around every fetch to keep the shared dict safe, so keys wait for each other.

caught by: test_different_keys_are_fetched_at_the_same_time
says: waited for each other
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
        task = self._in_flight.get(key)
        if task is None:
            task = asyncio.create_task(self._fetch(key, fetch))
            self._in_flight[key] = task
        return await asyncio.shield(task)

    async def _fetch(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        async with self._lock:  # one fetch at a time touches the shared state
            try:
                async with asyncio.timeout(self.timeout):
                    return await fetch()
            finally:
                del self._in_flight[key]
