"""Uses asyncio.wait(FIRST_EXCEPTION) and cleans up after it, but not when the caller is cancelled.

caught by: test_a_cancelled_or_fail_leaves_no_fetch_running
says: it had started were still running
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

Fetch = Callable[[str], Coroutine[Any, Any, str]]


async def fetch_all_reporting(fetch: Fetch, urls: list[str]) -> list[str | BaseException]:
    return await asyncio.gather(*(fetch(url) for url in urls), return_exceptions=True)


async def fetch_all_or_fail(fetch: Fetch, urls: list[str]) -> list[str]:
    tasks = [asyncio.create_task(fetch(url)) for url in urls]
    if not tasks:
        return []
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in tasks:
        if task in done and task.exception() is not None:
            raise task.exception()
    return [task.result() for task in tasks]
