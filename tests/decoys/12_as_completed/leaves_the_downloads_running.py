"""Yields from an as_completed loop, no cleanup: closing the stream leaves the downloads running.

caught by: test_closing_the_stream_early_cancels_the_downloads_still_running
says: still running after the stream was closed
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
    for next_done in asyncio.as_completed([fetch(url) for url in urls]):
        yield await next_done
