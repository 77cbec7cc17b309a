"""Tests only the happy path: a value is loaded, kept, and loaded again once old.

caught by: test_your_tests_catch[cancels_the_shared_load]
says: caught 3 of 9
"""

import asyncio

from loading_cache import LoadingCache

TTL = 10.0


async def test_get_gives_what_load_returns_and_keeps_it_while_fresh() -> None:
    load, clock = Loader(), Clock()
    cache = LoadingCache(load, ttl=TTL, clock=clock)
    assert await cache.get("a") == "a#1"
    clock.now = TTL - 0.001
    assert await cache.get("a") == "a#1"
    assert load.calls == ["a"]


async def test_a_value_exactly_ttl_old_is_loaded_again() -> None:
    load, clock = Loader(), Clock()
    cache = LoadingCache(load, ttl=TTL, clock=clock)
    await cache.get("a")
    clock.now = TTL
    assert await cache.get("a") == "a#2"
    assert load.calls == ["a", "a"]


class Clock:
    """The cache's clock: the test moves `now`, no real time passes."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Loader:
    """A load function: records each key, answers "key#n" for the n-th load. When `held`,
    each load waits for `release` (and `started` is set once a load began)."""

    def __init__(self, *, held: bool = False, error: Exception | None = None) -> None:
        self.calls: list[str] = []
        self.error = error
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        if not held:
            self.release.set()

    async def __call__(self, key: str) -> str:
        self.calls.append(key)
        number = len(self.calls)
        self.started.set()
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return f"{key}#{number}"
