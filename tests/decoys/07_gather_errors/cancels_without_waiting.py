"""Cancels the other tasks when one fails, but raises at once without waiting for them to stop.

caught by: test_or_fail_raises_the_failed_fetchs_own_error
says: only requests the cancellation
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

Fetch = Callable[[str], Coroutine[Any, Any, str]]


async def fetch_all_reporting(fetch: Fetch, urls: list[str]) -> list[str | BaseException]:
    return await asyncio.gather(*(fetch(url) for url in urls), return_exceptions=True)


async def fetch_all_or_fail(fetch: Fetch, urls: list[str]) -> list[str]:
    tasks = [asyncio.create_task(fetch(url)) for url in urls]
    try:
        return await asyncio.gather(*tasks)
    except Exception:
        for task in tasks:
            task.cancel()
        raise
