"""Catches each fetch's error in a for loop, awaiting the fetches one after another.

caught by: test_the_report_takes_about_the_slowest_fetch_not_the_sum
says: the calls ran one after another
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

Fetch = Callable[[str], Coroutine[Any, Any, str]]


async def fetch_all_reporting(fetch: Fetch, urls: list[str]) -> list[str | BaseException]:
    results: list[str | BaseException] = []
    for url in urls:
        try:
            results.append(await fetch(url))
        except Exception as error:
            results.append(error)
    return results


async def fetch_all_or_fail(fetch: Fetch, urls: list[str]) -> list[str]:
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(fetch(url)) for url in urls]
    except* Exception as group:
        raise group.exceptions[0] from None
    return [task.result() for task in tasks]
