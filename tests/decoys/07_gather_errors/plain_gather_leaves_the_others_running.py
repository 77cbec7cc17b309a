"""Fails with a plain asyncio.gather: the first error is raised, but the other fetches run on.

caught by: test_or_fail_raises_the_failed_fetchs_own_error
says: asyncio.gather raises the first error at once, but does not cancel
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

Fetch = Callable[[str], Coroutine[Any, Any, str]]


async def fetch_all_reporting(fetch: Fetch, urls: list[str]) -> list[str | BaseException]:
    return await asyncio.gather(*(fetch(url) for url in urls), return_exceptions=True)


async def fetch_all_or_fail(fetch: Fetch, urls: list[str]) -> list[str]:
    return await asyncio.gather(*(fetch(url) for url in urls))
