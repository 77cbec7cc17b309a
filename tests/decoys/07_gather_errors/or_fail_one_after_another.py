"""Awaits each fetch in turn in fetch_all_or_fail, so the fetches never overlap.

caught by: test_or_fail_starts_every_fetch_before_any_finishes
says: did not all run at the same time
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

Fetch = Callable[[str], Coroutine[Any, Any, str]]


async def fetch_all_reporting(fetch: Fetch, urls: list[str]) -> list[str | BaseException]:
    return await asyncio.gather(*(fetch(url) for url in urls), return_exceptions=True)


async def fetch_all_or_fail(fetch: Fetch, urls: list[str]) -> list[str]:
    return [await fetch(url) for url in urls]
