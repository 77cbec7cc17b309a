"""Kata 07: gather errors - one fetch fails: report it beside the pages, or stop everything."""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

# An async function: `await fetch(url)` gives the page, or raises (connection refused, ...).
Fetch = Callable[[str], Coroutine[Any, Any, str]]


async def fetch_all_reporting(fetch: Fetch, urls: list[str]) -> list[str | BaseException]:
    """Fetch every URL at the same time; return each page, or the error its fetch raised.

    The list follows the order of `urls`: a failed fetch leaves its exception in its place,
    and never stops the others.

    >>> asyncio.run(fetch_all_reporting(fetch, ["/users", "/orders", "/news"]))
    ['page /users', ConnectionError('/orders: connection refused'), 'page /news']
    """
    raise NotImplementedError(
        "write fetch_all_reporting(): fetch every URL at once, errors beside the pages"
    )


async def fetch_all_or_fail(fetch: Fetch, urls: list[str]) -> list[str]:
    """Fetch every URL at the same time; return the pages in the order of `urls`.

    If a fetch fails, raise its error (the exception itself, not an ExceptionGroup) as soon
    as it happens, and cancel the fetches still running first: none of them outlives the call.

    >>> asyncio.run(fetch_all_or_fail(fetch, ["/users", "/news"]))
    ['page /users', 'page /news']
    """
    raise NotImplementedError(
        "write fetch_all_or_fail(): fetch every URL at once; on the first error, cancel the "
        "others and raise it"
    )
