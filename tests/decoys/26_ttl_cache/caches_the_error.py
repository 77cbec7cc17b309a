"""Keeps a failed call in the cache, so the next caller gets the old error without a new call.

caught by: test_an_error_is_not_cached_the_next_call_tries_again
says: the error was cached
"""

import asyncio
import functools
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


def ttl_cache(
    ttl: float, clock: Callable[[], float] = time.monotonic, *, maxsize: int | None = None
) -> Callable[[Any], Any]:
    def decorate(func: Any) -> Any:
        entries: OrderedDict[Any, tuple[asyncio.Task[Any], float]] = OrderedDict()

        def settle(key: Any, task: asyncio.Task[Any]) -> None:
            if key in entries and entries[key][0] is task:
                entries[key] = (task, clock() + ttl)  # a result or an error: cached alike

        @functools.wraps(func)
        async def cached(*args: Any, **kwargs: Any) -> Any:
            key = (args, frozenset(kwargs.items()))
            entry = entries.get(key)
            if entry is None or clock() >= entry[1]:
                entry = entries[key] = (asyncio.create_task(func(*args, **kwargs)), math.inf)
                entry[0].add_done_callback(functools.partial(settle, key))
            entries.move_to_end(key)
            if maxsize is not None and len(entries) > maxsize:
                entries.popitem(last=False)
            return await asyncio.shield(entry[0])

        return cached

    return decorate
