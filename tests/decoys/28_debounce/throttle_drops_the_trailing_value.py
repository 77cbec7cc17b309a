"""Calls when the interval is over and skips the values pushed during it: the last is lost.

caught by: test_pushes_during_the_interval_are_sent_once_at_its_end_with_the_latest_value
says: trailing edge
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
        self._waiting: deque[T] = deque(maxlen=1)
        self._timer: asyncio.TimerHandle | None = None
        self._burst_began: float | None = None
        self._calls: set[asyncio.Task[None]] = set()

    def push(self, value: T) -> None:
        loop = asyncio.get_running_loop()
        self._waiting.append(value)
        now = loop.time()
        if self._burst_began is None:
            self._burst_began = now
        delay = self.quiet
        if self.max_wait is not None:
            delay = min(delay, self._burst_began + self.max_wait - now)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(delay, self._send)

    def _send(self) -> None:
        self._timer = None
        self._burst_began = None
        call = asyncio.create_task(self._call(self._waiting.pop()))
        self._calls.add(call)
        call.add_done_callback(self._calls.discard)

    async def _call(self, value: T) -> None:
        await self.action(value)

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._send()
        await asyncio.gather(*self._calls)


class Throttler(Generic[T]):
    def __init__(self, action: Callable[[T], Awaitable[None]], interval: float) -> None:
        self.action = action
        self.interval = interval
        self._next_call = -math.inf
        self._calls: set[asyncio.Task[None]] = set()

    def push(self, value: T) -> None:
        now = asyncio.get_running_loop().time()
        if now >= self._next_call:  # the interval is over: call; otherwise skip the value
            self._next_call = now + self.interval
            call = asyncio.create_task(self._call(value))
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)

    async def _call(self, value: T) -> None:
        await self.action(value)

    async def aclose(self) -> None:
        await asyncio.gather(*self._calls)
