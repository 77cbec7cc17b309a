"""Returns a plain wrapper without functools.wraps, so the cached function is named 'cached'.

caught by: test_the_decorator_keeps_the_function_name_and_docstring
says: functools.wraps
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
