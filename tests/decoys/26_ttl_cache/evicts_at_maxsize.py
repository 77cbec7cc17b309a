"""Evicts as soon as the cache holds maxsize entries (`>=` for `>`): it keeps one entry too few.

caught by: test_with_maxsize_the_cache_holds_exactly_maxsize_entries
says: one entry too soon
"""

import asyncio
import functools
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


def ttl_cache(
    ttl: float, clock: Callable[[], float] = time.monotonic, *, maxsize: int | None = None
) -> Callable[[Callable[P, Coroutine[Any, Any, T]]], Callable[P, Coroutine[Any, Any, T]]]:
    """A decorator that caches an `async def` function's results for `ttl` seconds of `clock()`.

    The key is the call's arguments: the positional ones, and the keyword ones by name (they
    must be hashable). `f(1)` and `f(x=1)` may be two entries, as in functools.lru_cache.
    - A call within `ttl` of its key's result returns that result without calling the function.
    - Callers of a key whose call is still running share that call: no stampede.
    - Different keys are computed at the same time.
    - An error is not cached: every caller waiting for that call gets it, the next call retries.
    Stage 2: with `maxsize`, at most that many entries; a new one evicts the least recently used.

    >>> @ttl_cache(ttl=60)
    ... async def profile(user: str) -> str: ...
    >>> await profile("ada")   # calls the service
    >>> await profile("ada")   # from the cache, for 60 s
    """

    def decorate(func: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        # key -> (the call's task, running or done; when its result expires), in an OrderedDict
        # that keeps the least recently used entry first (stage 2).
        entries: OrderedDict[Hashable, tuple[asyncio.Task[T], float]] = OrderedDict()

        def settle(key: Hashable, task: asyncio.Task[T]) -> None:
            failed = task.cancelled() or task.exception() is not None
            if key in entries and entries[key][0] is task:  # not evicted or replaced since
                if failed:
                    del entries[key]  # errors are not cached: the next caller tries again
                else:
                    entries[key] = (task, clock() + ttl)  # fresh for ttl from its result on

        @functools.wraps(func)  # keep the name and the docstring of the function
        async def cached(*args: P.args, **kwargs: P.kwargs) -> T:
            key = (args, frozenset(kwargs.items()))
            entry = entries.get(key)
            if entry is None or clock() >= entry[1]:
                # A miss: start ONE call and cache its task at once (fresh while it runs), so
                # that callers who come meanwhile await the same task instead of calling again.
                entry = entries[key] = (asyncio.create_task(func(*args, **kwargs)), math.inf)
                entry[0].add_done_callback(functools.partial(settle, key))
            entries.move_to_end(key)  # the most recently used
            if maxsize is not None and len(entries) >= maxsize:
                entries.popitem(last=False)  # evict the least recently used
            # shield: a caller that gives up (a timeout) does not cancel the call for the others.
            return await asyncio.shield(entry[0])

        return cached

    return decorate
