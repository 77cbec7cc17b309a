"""Kata 12: as_completed - handle each result the moment it arrives, fastest first."""

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
    raise NotImplementedError(
        "write download_all(): start every fetch, then report each page as it completes"
    )


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
    raise NotImplementedError(
        "write stream_downloads(): start every fetch, yield each page as it completes, and "
        "cancel the downloads still running when the stream is closed"
    )
    yield ""  # the `yield` makes this an async generator (this one is never reached)
