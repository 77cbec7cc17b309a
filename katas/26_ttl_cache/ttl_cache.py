"""Kata 26: async cache: results that expire, no stampede."""

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
      The ttl counts from when the result arrived; at exactly `ttl` seconds it has expired.
    - Callers of a key whose call is still running share that call: no stampede. A caller
      cancelled meanwhile stops its own waiting, not the call.
    - Different keys are computed at the same time.
    - An error is not cached: every caller waiting for that call gets it, the next call retries.
    Stage 2: with `maxsize`, at most that many entries; a new one evicts the least recently used
    (callers of an evicted call still get its result).

    >>> @ttl_cache(ttl=60)
    ... async def profile(user: str) -> str: ...
    >>> await profile("ada")   # calls the service
    >>> await profile("ada")   # from the cache, for 60 s
    """
    raise NotImplementedError("write ttl_cache(): a decorator that caches an async function")
