"""Hands the fetch coroutines straight to as_completed: a failed download leaves the others running.

caught by: test_a_failed_download_stops_the_others_before_its_error_goes_up
says: still running when download_all raised
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
