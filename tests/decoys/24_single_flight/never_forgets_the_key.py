"""Keeps every fetch's task in the dict for good, so later calls get the old result: a cache.

caught by: test_a_call_after_a_finished_fetch_fetches_again
says: the finished fetch was remembered
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
        if key not in self._in_flight:
            self._in_flight[key] = asyncio.create_task(self._fetch(fetch))
        return await asyncio.shield(self._in_flight[key])

    async def _fetch(self, fetch: Callable[[], Awaitable[T]]) -> T:
        async with asyncio.timeout(self.timeout):
            return await fetch()
