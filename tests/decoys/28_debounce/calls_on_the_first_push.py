"""Calls the action at once on the first push of a burst, then ignores the pushes that follow.

caught by: test_a_burst_makes_one_call_with_the_last_value_a_quiet_period_after_it
says: leading-edge debounce
"""

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Debouncer(Generic[T]):
    def __init__(
        self,
        action: Callable[[T], Awaitable[None]],
        quiet: float,
        *,
        max_wait: float | None = None,
    ) -> None:
        self.action = action
        self.quiet = quiet
        self.max_wait = max_wait
        self._last_push = -math.inf
        self._calls: set[asyncio.Task[None]] = set()

    def push(self, value: T) -> None:
        now = asyncio.get_running_loop().time()
        # A push after `quiet` seconds of calm starts a burst: call at once, skip the rest.
        if now - self._last_push > self.quiet:
            call = asyncio.create_task(self._call(value))
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)
        self._last_push = now

    async def _call(self, value: T) -> None:
        await self.action(value)

    async def aclose(self) -> None:
        await asyncio.gather(*self._calls)


class Throttler(Generic[T]):
    def __init__(self, action: Callable[[T], Awaitable[None]], interval: float) -> None:
        self.action = action
        self.interval = interval
        self._waiting: deque[T] = deque(maxlen=1)
        self._sender: asyncio.Task[None] | None = None
        self._next_call = -math.inf

    def push(self, value: T) -> None:
        self._waiting.append(value)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send())

    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            await asyncio.sleep(max(0.0, self._next_call - loop.time()))
            self._next_call = loop.time() + self.interval
            await self.action(self._waiting.pop())

    async def aclose(self) -> None:
        if self._sender is not None:
            await self._sender
