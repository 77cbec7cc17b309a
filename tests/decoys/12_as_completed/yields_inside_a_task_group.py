"""Yields inside a TaskGroup: closing the stream early makes the group raise a BaseExceptionGroup.

caught by: test_closing_the_stream_early_cancels_the_downloads_still_running
says: yield inside a TaskGroup
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

Fetch = Callable[[str], Coroutine[Any, Any, str]]
OnProgress = Callable[[str], None]


async def download_all(fetch: Fetch, urls: list[str], on_progress: OnProgress) -> list[str]:
    pages = []
    async with asyncio.TaskGroup() as tg:
        downloads = [tg.create_task(fetch(url)) for url in urls]
        for next_done in asyncio.as_completed(downloads):
            page = await next_done
            on_progress(page)
            pages.append(page)
    return pages


async def stream_downloads(fetch: Fetch, urls: list[str]) -> AsyncIterator[str]:
    async with asyncio.TaskGroup() as tg:
        downloads = [tg.create_task(fetch(url)) for url in urls]
        for next_done in asyncio.as_completed(downloads):
            yield await next_done
