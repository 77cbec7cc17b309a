"""The first caller forgets the key when IT stops waiting, so after a cancel the key is lost.

Its fetch runs on, but the next caller no longer finds it and starts a second fetch.

caught by: test_a_fetch_whose_callers_all_gave_up_still_serves_the_next_caller
says: forgotten when its callers gave up
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
        if task is not None:
            return await asyncio.shield(task)
        task = asyncio.create_task(self._fetch(fetch))
        self._in_flight[key] = task
        try:
            return await asyncio.shield(task)
        finally:
            del self._in_flight[key]  # the caller who started the fetch cleans up after it

    async def _fetch(self, fetch: Callable[[], Awaitable[T]]) -> T:
        async with asyncio.timeout(self.timeout):
            return await fetch()
