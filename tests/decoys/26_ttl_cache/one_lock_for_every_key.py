"""Holds one lock around the lookup and the call: no stampede, but every key waits for the others.

caught by: test_different_arguments_are_cached_apart_and_computed_at_the_same_time
says: one lock around the whole lookup-and-call
"""

import asyncio
import functools
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


def ttl_cache(
    ttl: float, clock: Callable[[], float] = time.monotonic, *, maxsize: int | None = None
) -> Callable[[Any], Any]:
    def decorate(func: Any) -> Any:
        entries: OrderedDict[Any, tuple[Any, float]] = OrderedDict()  # key -> (value, expires)
        lock = asyncio.Lock()

        @functools.wraps(func)
        async def cached(*args: Any, **kwargs: Any) -> Any:
            key = (args, frozenset(kwargs.items()))
            async with lock:  # the second caller of a key waits here, then finds the result
                if key in entries and clock() < entries[key][1]:
                    entries.move_to_end(key)
                    return entries[key][0]
                value = await func(*args, **kwargs)
                entries[key] = (value, clock() + ttl)
                entries.move_to_end(key)
                if maxsize is not None and len(entries) > maxsize:
                    entries.popitem(last=False)
                return value

        return cached

    return decorate
