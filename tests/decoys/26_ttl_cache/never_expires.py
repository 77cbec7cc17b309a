"""Caches every result for good and never looks at the clock: the ttl is ignored.

caught by: test_after_the_ttl_the_function_is_called_again
says: never expired
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
            failed = task.cancelled() or task.exception() is not None
            if key in entries and entries[key][0] is task:
                if failed:
                    del entries[key]

        @functools.wraps(func)
        async def cached(*args: Any, **kwargs: Any) -> Any:
            key = (args, frozenset(kwargs.items()))
            entry = entries.get(key)
            if entry is None:
                entry = entries[key] = (asyncio.create_task(func(*args, **kwargs)), math.inf)
                entry[0].add_done_callback(functools.partial(settle, key))
            entries.move_to_end(key)
            if maxsize is not None and len(entries) > maxsize:
                entries.popitem(last=False)
            return await asyncio.shield(entry[0])

        return cached

    return decorate
