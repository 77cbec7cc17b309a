"""Calls fetch() for every caller, so five callers of one key make five fetches.

caught by: test_five_callers_of_one_key_share_one_fetch
says: every caller fetched for itself
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
        async with asyncio.timeout(self.timeout):
            return await fetch()
