"""Collects a task per URL after asyncio.wait: if the caller is cancelled, the fetches run on.

caught by: test_a_cancelled_report_leaves_no_fetch_running
says: it had started were still running
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

Fetch = Callable[[str], Coroutine[Any, Any, str]]


async def fetch_all_reporting(fetch: Fetch, urls: list[str]) -> list[str | BaseException]:
    tasks = [asyncio.create_task(fetch(url)) for url in urls]
    if tasks:
        await asyncio.wait(tasks)
    return [task.exception() or task.result() for task in tasks]


async def fetch_all_or_fail(fetch: Fetch, urls: list[str]) -> list[str]:
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(fetch(url)) for url in urls]
    except* Exception as group:
        raise group.exceptions[0] from None
    return [task.result() for task in tasks]
