"""Caches the coroutine object itself, and every caller awaits it: a coroutine runs only once.

caught by: test_a_second_call_within_the_ttl_comes_from_the_cache
says: a coroutine can be awaited only once
"""

import functools
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


def ttl_cache(
    ttl: float, clock: Callable[[], float] = time.monotonic, *, maxsize: int | None = None
) -> Callable[[Any], Any]:
    def decorate(func: Any) -> Any:
        entries: OrderedDict[Any, tuple[Any, float]] = OrderedDict()  # key -> (call, expires)

        @functools.wraps(func)
        async def cached(*args: Any, **kwargs: Any) -> Any:
            key = (args, frozenset(kwargs.items()))
            if key not in entries or clock() >= entries[key][1]:
                entries[key] = (func(*args, **kwargs), clock() + ttl)
            entries.move_to_end(key)
            if maxsize is not None and len(entries) > maxsize:
                entries.popitem(last=False)
            return await entries[key][0]

        return cached

    return decorate
