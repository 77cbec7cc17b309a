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
        # Add here what do() calls share: the fetch in flight for each key.

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
        raise NotImplementedError(
            "write do(): one fetch in flight per key, shared by every caller of that key"
        )
