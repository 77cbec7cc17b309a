"""Runs the fetch in its own task but awaits it without asyncio.shield: one cancel stops it.

caught by: test_a_caller_cancelled_mid_fetch_does_not_cancel_the_others
says: without a shield
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
        return await task

    async def _fetch(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self.timeout):
                return await fetch()
        finally:
            del self._in_flight[key]
