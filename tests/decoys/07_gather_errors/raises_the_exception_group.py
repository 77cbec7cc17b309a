"""Lets the TaskGroup's ExceptionGroup escape, so `except ConnectionError` misses the error.

caught by: test_or_fail_raises_the_failed_fetchs_own_error
says: ExceptionGroup
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

Fetch = Callable[[str], Coroutine[Any, Any, str]]


async def fetch_all_reporting(fetch: Fetch, urls: list[str]) -> list[str | BaseException]:
    return await asyncio.gather(*(fetch(url) for url in urls), return_exceptions=True)


async def fetch_all_or_fail(fetch: Fetch, urls: list[str]) -> list[str]:
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(fetch(url)) for url in urls]
    return [task.result() for task in tasks]
