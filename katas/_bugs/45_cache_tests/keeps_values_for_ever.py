"""keeps every value for ever: the ttl is never checked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LoadingCache(Generic[K, V]):
    """Values loaded by `load(key)`, each kept for `ttl` seconds as `clock` tells the time.

    - `get(key)` gives the kept value while it is fresh (younger than `ttl` seconds), else loads;
    - callers asking for the same key while it loads share that one load;
    - a load that raises is not kept: each caller waiting on it gets the error, the next
      `get` loads again;
    - a caller cancelled while it waits does not cancel the load the others share;
    - `invalidate(key)` forgets the key's value, and a load in flight is not kept when it ends.
    """

    def __init__(
        self,
        load: Callable[[K], Awaitable[V]],
        *,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._values: dict[K, tuple[float, V]] = {}  # key -> (loaded at, value)
        self._loading: dict[K, asyncio.Task[V]] = {}
        self._invalidated: dict[K, int] = {}  # key -> how many times; a load keeps its value
        # only if the count has not changed since it started

    async def get(self, key: K) -> V:
        """The value for `key`: the kept one while fresh, else what `load(key)` gives."""
        kept = self._values.get(key)
        if kept is not None:
            return kept[1]
        task = self._loading.get(key)
        if task is None:
            task = asyncio.create_task(self._load_and_keep(key, self._invalidated.get(key, 0)))
            if not task.done():  # an eager task (Python 3.12+) may have run to its end already
                self._loading[key] = task
        # The load is shared: one caller's cancellation must not cancel it for the others.
        return await asyncio.shield(task)

    def invalidate(self, key: K) -> None:
        """Forget `key`: its kept value, and whatever a load in flight brings back."""
        self._values.pop(key, None)
        self._loading.pop(key, None)
        self._invalidated[key] = self._invalidated.get(key, 0) + 1

    async def _load_and_keep(self, key: K, invalidated: int) -> V:
        try:
            value = await self._load(key)
            if self._invalidated.get(key, 0) == invalidated:  # not invalidated meanwhile
                self._values[key] = (self._clock(), value)
            return value
        finally:
            if self._loading.get(key) is asyncio.current_task():
                del self._loading[key]
