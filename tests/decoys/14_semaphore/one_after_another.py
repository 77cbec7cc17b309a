"""Awaits each fetch in turn in a for loop: never over the limit, but the delays add up.

caught by: test_limit_fetches_run_at_once_not_one_at_a_time
says: the fetches ran one after another
"""

from collections.abc import Awaitable, Callable

Fetch = Callable[[str], Awaitable[str]]


async def fetch_all_limited(fetch: Fetch, items: list[str], limit: int) -> list[str]:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    pages = []
    for item in items:
        pages.append(await fetch(item))
    return pages
