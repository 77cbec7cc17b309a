"""Shares a Future the first caller resolves only on success: on an error the others wait forever.

caught by: test_an_error_reaches_every_caller_waiting_for_the_failed_call
says: the error never reached them
"""

import asyncio
import functools
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Entry:
    future: asyncio.Future[Any]
    expires: float = math.inf


def ttl_cache(
    ttl: float, clock: Callable[[], float] = time.monotonic, *, maxsize: int | None = None
) -> Callable[[Any], Any]:
    def decorate(func: Any) -> Any:
        entries: OrderedDict[Any, Entry] = OrderedDict()

        @functools.wraps(func)
        async def cached(*args: Any, **kwargs: Any) -> Any:
            key = (args, frozenset(kwargs.items()))
            entry = entries.get(key)
            if entry is not None and clock() < entry.expires:
                entries.move_to_end(key)
                return await entry.future  # someone else is fetching it: wait for their result
            entry = Entry(asyncio.get_running_loop().create_future())
            entries[key] = entry
            entries.move_to_end(key)
            if maxsize is not None and len(entries) > maxsize:
                entries.popitem(last=False)
            try:
                value = await func(*args, **kwargs)
            except Exception:
                if entries.get(key) is entry:
                    del entries[key]  # not cached: the next call retries
                raise
            entry.future.set_result(value)
            entry.expires = clock() + ttl
            return value

        return cached

    return decorate
