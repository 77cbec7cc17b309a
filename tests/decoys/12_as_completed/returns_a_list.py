"""Writes stream_downloads as a coroutine that returns the list of pages: no async generator.

caught by: test_the_stream_yields_each_page_the_moment_it_arrives
says: not an async generator
"""

import asyncio
from collections.abc import Callable, Coroutine
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


async def stream_downloads(fetch: Fetch, urls: list[str]) -> list[str]:
    return await download_all(fetch, urls, lambda page: None)
