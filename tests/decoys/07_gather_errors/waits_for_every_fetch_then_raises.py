"""Gathers every result with return_exceptions=True, then raises the first error: after the slowest.

caught by: test_or_fail_cancels_the_other_fetches_when_one_fails
says: waited for every fetch to end before it raised
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

Fetch = Callable[[str], Coroutine[Any, Any, str]]


async def fetch_all_reporting(fetch: Fetch, urls: list[str]) -> list[str | BaseException]:
    return await asyncio.gather(*(fetch(url) for url in urls), return_exceptions=True)


async def fetch_all_or_fail(fetch: Fetch, urls: list[str]) -> list[str]:
    results = await asyncio.gather(*(fetch(url) for url in urls), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [str(page) for page in results]
