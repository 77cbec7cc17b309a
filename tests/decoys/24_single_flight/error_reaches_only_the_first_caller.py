"""Hands the fetch's result on to the callers waiting for it, but not its error: they hang.

caught by: test_a_failed_fetch_raises_its_error_in_every_caller
says: reached only
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = timeout
        self._waiting: dict[str, asyncio.Future[T]] = {}

    async def do(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        waiting = self._waiting.get(key)
        if waiting is not None:  # someone is fetching already: wait for their result
            return await asyncio.shield(waiting)
        waiting = asyncio.get_running_loop().create_future()
        self._waiting[key] = waiting
        try:
            async with asyncio.timeout(self.timeout):
                result = await fetch()
            waiting.set_result(result)
            return result
        finally:
            del self._waiting[key]
