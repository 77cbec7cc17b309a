"""Reports with a plain asyncio.gather, which raises the first error instead of listing it.

caught by: test_the_report_holds_each_page_or_error_in_the_place_of_its_url
says: raises the first error it sees unless
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

Fetch = Callable[[str], Coroutine[Any, Any, str]]


async def fetch_all_reporting(fetch: Fetch, urls: list[str]) -> list[str | BaseException]:
    return list(await asyncio.gather(*(fetch(url) for url in urls)))


async def fetch_all_or_fail(fetch: Fetch, urls: list[str]) -> list[str]:
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(fetch(url)) for url in urls]
    except* Exception as group:
        raise group.exceptions[0] from None
    return [task.result() for task in tasks]
