"""Tests for LoadingCache (given/loading_cache.py): each promise of its docstring."""

import asyncio

import pytest
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


async def test_keys_loading_at_the_same_time_keep_their_own_values() -> None:
    load = Loader(held=True)
    cache = LoadingCache(load, ttl=TTL, clock=Clock())
    callers = [asyncio.create_task(cache.get(key)) for key in ("a", "b")]
    await load.started.wait()
    load.release.set()
    assert list(await asyncio.gather(*callers)) == ["a#1", "b#2"]
    assert load.calls == ["a", "b"]


async def test_callers_asking_at_the_same_time_share_one_load() -> None:
    load = Loader(held=True)
    cache = LoadingCache(load, ttl=TTL, clock=Clock())
    callers = [asyncio.create_task(cache.get("a")) for _ in range(3)]
    await load.started.wait()
    load.release.set()
    assert await asyncio.gather(*callers) == ["a#1"] * 3
    assert load.calls == ["a"]


async def test_a_failed_load_reaches_every_caller_and_is_not_kept() -> None:
    load = Loader(held=True, error=ValueError("down"))
    cache = LoadingCache(load, ttl=TTL, clock=Clock())
    callers = [asyncio.create_task(cache.get("a")) for _ in range(2)]
    await load.started.wait()
    load.release.set()
    for outcome in await asyncio.gather(*callers, return_exceptions=True):
        assert isinstance(outcome, ValueError)
    load.error = None
    assert await cache.get("a") == "a#2"


async def test_a_cancelled_caller_does_not_cancel_the_load_of_the_others() -> None:
    load = Loader(held=True)
    cache = LoadingCache(load, ttl=TTL, clock=Clock())
    leaving, staying = (asyncio.create_task(cache.get("a")) for _ in range(2))
    await load.started.wait()
    leaving.cancel()
    load.release.set()
    assert await staying == "a#1"
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_invalidate_forgets_a_kept_value() -> None:
    load = Loader()
    cache = LoadingCache(load, ttl=TTL, clock=Clock())
    await cache.get("a")
    cache.invalidate("a")
    assert await cache.get("a") == "a#2"


async def test_a_load_invalidated_in_flight_is_not_kept() -> None:
    load = Loader(held=True)
    cache = LoadingCache(load, ttl=TTL, clock=Clock())
    caller = asyncio.create_task(cache.get("a"))
    await load.started.wait()
    cache.invalidate("a")
    load.release.set()
    assert await caller == "a#1"
    assert await cache.get("a") == "a#2"


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
