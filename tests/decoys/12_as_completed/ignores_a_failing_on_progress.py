"""Catches every error of on_progress and carries on, so a broken progress bar goes unnoticed.

caught by: test_an_error_in_on_progress_stops_the_downloads_and_goes_up
says: and download_all carried on
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

# fetch(url) downloads one page: call it to get a coroutine (like an async HTTP client's get).
Fetch = Callable[[str], Coroutine[Any, Any, str]]
# on_progress(page) moves the progress bar on: a plain function, called without `await`.
OnProgress = Callable[[str], None]


async def download_all(fetch: Fetch, urls: list[str], on_progress: OnProgress) -> list[str]:
    """Download every url at once; report each page the moment it arrives; return them all.

    Call on_progress(page) once per page as soon as that page is in (the fastest first, without
    waiting for the slower ones), and return the pages in the order they arrived. With downloads
    of 0.3, 0.1 and 0.2 s the reports come at about 0.1, 0.2 and 0.3 s, all done in 0.3 s:

    >>> asyncio.run(download_all(fetch, ["/big", "/small", "/medium"], print))
    page small
    page medium
    page big
    ['page small', 'page medium', 'page big']
    """
    pages = []
    # The TaskGroup starts every download at once (and cancels the rest if one fails).
    async with asyncio.TaskGroup() as tg:
        downloads = [tg.create_task(fetch(url)) for url in urls]
        # as_completed hands the downloads back in the order they finish, fastest first.
        for next_done in asyncio.as_completed(downloads):
            page = await next_done
            try:
                on_progress(page)  # report it now, while the slower ones are still on their way
            except Exception:
                pass  # a broken progress bar is no reason to stop the downloads
            pages.append(page)
    return pages


async def stream_downloads(fetch: Fetch, urls: list[str]) -> AsyncIterator[str]:
    """Stage 2: download every url at once and yield each page the moment it arrives.

    An async generator, read with `async for`: the pages come fastest first. A consumer may stop
    early and close the stream (aclose(), or `async with contextlib.aclosing(...)`): then the
    downloads still running are cancelled, and have stopped by the time aclose() returns.

    >>> async with contextlib.aclosing(stream_downloads(fetch, ["/big", "/small"])) as pages:
    ...     async for page in pages:
    ...         print(page)
    page small
    page big
    """
    # Start every download at once.
    downloads = [asyncio.create_task(fetch(url)) for url in urls]
    try:
        # as_completed hands them back fastest first: yield each page as soon as it is in.
        for next_done in asyncio.as_completed(downloads):
            yield await next_done
    finally:
        # Closed early (aclose() raises GeneratorExit at the `yield`) or a download failed:
        # cancel what is still running and wait until it has stopped. (Not a TaskGroup around
        # the `yield`: closing the stream would make it raise a BaseExceptionGroup.)
        for download in downloads:
            download.cancel()
        await asyncio.gather(*downloads, return_exceptions=True)
