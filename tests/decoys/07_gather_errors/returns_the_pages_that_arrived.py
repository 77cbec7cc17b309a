"""Skips the failed page and returns the others, so the caller never learns a fetch failed.

caught by: test_or_fail_raises_the_failed_fetchs_own_error
says: instead of raising
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

Fetch = Callable[[str], Coroutine[Any, Any, str]]


async def fetch_all_reporting(fetch: Fetch, urls: list[str]) -> list[str | BaseException]:
    return await asyncio.gather(*(fetch(url) for url in urls), return_exceptions=True)


async def fetch_all_or_fail(fetch: Fetch, urls: list[str]) -> list[str]:
    results = await asyncio.gather(*(fetch(url) for url in urls), return_exceptions=True)
    return [page for page in results if isinstance(page, str)]
