"""Calls every method but asserts nothing about what came back: the tests only show it runs.

caught by: test_your_tests_catch[cancels_the_shared_load]
says: on no broken version at all
"""

import asyncio

from loading_cache import LoadingCache

TTL = 10.0


async def test_get_gives_what_load_returns_and_keeps_it_while_fresh() -> None:
    load, clock = Loader(), Clock()
    cache = LoadingCache(load, ttl=TTL, clock=clock)
    await cache.get("a")
    clock.now = TTL - 0.001
    await cache.get("a")


async def test_a_value_exactly_ttl_old_is_loaded_again() -> None:
    load, clock = Loader(), Clock()
    cache = LoadingCache(load, ttl=TTL, clock=clock)
    await cache.get("a")
    clock.now = TTL
    await cache.get("a")


async def test_keys_loading_at_the_same_time_keep_their_own_values() -> None:
    load = Loader(held=True)
    cache = LoadingCache(load, ttl=TTL, clock=Clock())
    callers = [asyncio.create_task(cache.get(key)) for key in ("a", "b")]
    await load.started.wait()
    load.release.set()
    await asyncio.gather(*callers)


async def test_callers_asking_at_the_same_time_share_one_load() -> None:
    load = Loader(held=True)
    cache = LoadingCache(load, ttl=TTL, clock=Clock())
    callers = [asyncio.create_task(cache.get("a")) for _ in range(3)]
    await load.started.wait()
    load.release.set()
    await asyncio.gather(*callers)


async def test_a_failed_load_reaches_every_caller_and_is_not_kept() -> None:
    load = Loader(held=True, error=ValueError("down"))
    cache = LoadingCache(load, ttl=TTL, clock=Clock())
    callers = [asyncio.create_task(cache.get("a")) for _ in range(2)]
    await load.started.wait()
    load.release.set()
    await asyncio.gather(*callers, return_exceptions=True)
    load.error = None
    await cache.get("a")


async def test_a_cancelled_caller_does_not_cancel_the_load_of_the_others() -> None:
    load = Loader(held=True)
    cache = LoadingCache(load, ttl=TTL, clock=Clock())
    leaving, staying = (asyncio.create_task(cache.get("a")) for _ in range(2))
    await load.started.wait()
    leaving.cancel()
    load.release.set()
    await asyncio.gather(staying, leaving, return_exceptions=True)


async def test_invalidate_forgets_a_kept_value() -> None:
    load = Loader()
    cache = LoadingCache(load, ttl=TTL, clock=Clock())
    await cache.get("a")
    cache.invalidate("a")
    await cache.get("a")


async def test_a_load_invalidated_in_flight_is_not_kept() -> None:
    load = Loader(held=True)
    cache = LoadingCache(load, ttl=TTL, clock=Clock())
    caller = asyncio.create_task(cache.get("a"))
    await load.started.wait()
    cache.invalidate("a")
    load.release.set()
    await caller
    await cache.get("a")


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
