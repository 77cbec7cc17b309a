"""Kata 24: single-flight - callers asking for the same key at once share one fetch."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Coalesces requests: while a fetch for a key is in flight, callers of that key join it.

    users = SingleFlight[User]()
    user = await users.do("user:42", lambda: db.load_user(42))

    Nothing is cached: once the fetch has ended, the next call for the key fetches again.
    """

    def __init__(self, timeout: float | None = None) -> None:
        # Stage 2: the seconds a fetch may run, counted from its start, for all its callers.
        self.timeout = timeout
        # The fetch in flight for each key. Holding its task here also keeps it alive while
        # nobody awaits it (the event loop keeps only weak references to tasks).
        self._in_flight: dict[str, asyncio.Task[T]] = {}

    async def do(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        """Return what `fetch()` returns, fetching at most once at a time per key.

        - No fetch for `key` in flight: call `fetch()` and return its result.
        - One in flight (another caller started it): do not call `fetch`; wait for that fetch
          and return its result, or raise its error. Every caller of it gets the same outcome.
        - Different keys never wait for each other.
        - A caller that is cancelled stops waiting (it ends cancelled), but the fetch goes on
          for the other callers; if every caller gives up, the fetch still runs to its end,
          and a caller arriving meanwhile joins it.
        - Once the fetch has ended (result or error), the key is forgotten: nothing is cached.
        - Stage 2: with a `timeout`, a fetch still running `timeout` seconds after it started
          is cancelled, and every caller waiting for it gets TimeoutError.
        """
        task = self._in_flight.get(key)
        if task is None:
            # The first caller starts the fetch in a task of its own: no caller owns it.
            task = asyncio.create_task(self._fetch(key, fetch))
            self._in_flight[key] = task
        # shield: cancelling this caller stops its waiting, not the fetch the others await.
        return await asyncio.shield(task)

    async def _fetch(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        """Run one fetch under the shared deadline; forget the key however it ends."""
        try:
            # One deadline, counted from the start of the fetch, whoever waits for it.
            async with asyncio.timeout(self.timeout):
                return await fetch()
        finally:
            # Result, error or timeout: forget the key, so the next call fetches again.
            del self._in_flight[key]
