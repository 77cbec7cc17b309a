"""Caches a result only once its call has finished, so callers who come meanwhile all call too.

caught by: test_five_callers_of_a_missing_key_share_one_call
says: stampede
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
        entries: OrderedDict[Any, tuple[Any, float]] = OrderedDict()  # key -> (value, expires)

        @functools.wraps(func)
        async def cached(*args: Any, **kwargs: Any) -> Any:
            key = (args, frozenset(kwargs.items()))
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
