"""Uses only the positional arguments as the key, so calls that differ by keyword share an answer.

caught by: test_keyword_arguments_are_part_of_the_key
says: the keyword arguments must be part of the key
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
                else:
                    entries[key] = (task, clock() + ttl)

        @functools.wraps(func)
        async def cached(*args: Any, **kwargs: Any) -> Any:
            key = args
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
