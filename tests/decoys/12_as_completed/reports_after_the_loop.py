"""Uses as_completed but collects every page first and reports them after the loop, too late.

caught by: test_the_first_report_comes_as_soon_as_the_fastest_page_is_in
says: after every download had finished
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

Fetch = Callable[[str], Coroutine[Any, Any, str]]
OnProgress = Callable[[str], None]


async def download_all(fetch: Fetch, urls: list[str], on_progress: OnProgress) -> list[str]:
    pages = [await next_done for next_done in asyncio.as_completed([fetch(u) for u in urls])]
    for page in pages:
        on_progress(page)
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
