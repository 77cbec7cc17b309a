"""Hands the fetch coroutines straight to as_completed: on a cancel or a failure its tasks run on.

caught by: test_a_cancelled_download_all_stops_every_download
says: started by asyncio.as_completed
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

Fetch = Callable[[str], Coroutine[Any, Any, str]]
OnProgress = Callable[[str], None]


async def download_all(fetch: Fetch, urls: list[str], on_progress: OnProgress) -> list[str]:
    pages = []
    for next_done in asyncio.as_completed([fetch(url) for url in urls]):
        page = await next_done
        on_progress(page)
        pages.append(page)
    return pages


async def stream_downloads(fetch: Fetch, urls: list[str]) -> AsyncIterator[str]:
    downloads = [asyncio.create_task(fetch(url)) for url in urls]
    try:
        for next_done in asyncio.as_completed(downloads):
            yield await next_done
    finally:
        for download in downloads:
            download.cancel()
        await asyncio.gather(*downloads, return_exceptions=True)
