"""Polls the download tasks every 10 ms with time.sleep, which freezes the loop: nothing downloads.

caught by: test_progress_is_reported_fastest_first
says: time.sleep()
"""

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

Fetch = Callable[[str], Coroutine[Any, Any, str]]
OnProgress = Callable[[str], None]


async def download_all(fetch: Fetch, urls: list[str], on_progress: OnProgress) -> list[str]:
    pending = [asyncio.create_task(fetch(url)) for url in urls]
    pages = []
    while pending:
        for task in [t for t in pending if t.done()]:
            pending.remove(task)
            on_progress(task.result())
            pages.append(task.result())
        time.sleep(0.01)  # look again in 10 ms
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
