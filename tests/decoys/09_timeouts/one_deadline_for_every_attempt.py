"""Puts one asyncio.timeout around the whole retry loop: when it fires, no second attempt is made.

caught by: test_a_retry_after_a_timeout_can_still_bring_the_answer
says: the first timeout ended the whole retrying
"""

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

Fetch = Callable[[], Coroutine[Any, Any, str]]


async def fetch_or_fallback(
    fetch: Fetch, deadline: float, fallback: str, *, attempts: int = 1
) -> str:
    try:
        async with asyncio.timeout(deadline):
            for _ in range(attempts):
                try:
                    return await fetch()
                except TimeoutError:
                    continue
    except TimeoutError:
        pass
    return fallback


async def fetch_batch_within(fetches: dict[str, Fetch], deadline: float) -> dict[str, str]:
    arrived: dict[str, str] = {}

    async def keep(name: str, fetch: Fetch) -> None:
        arrived[name] = await fetch()

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(deadline), asyncio.TaskGroup() as tg:
            for name, fetch in fetches.items():
                tg.create_task(keep(name, fetch))
    return arrived
