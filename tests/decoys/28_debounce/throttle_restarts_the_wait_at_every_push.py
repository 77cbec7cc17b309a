"""Calls at once, then restarts the wait for the trailing call at every push (a debounce).

caught by: test_a_steady_stream_is_sent_once_per_interval_and_its_last_value_too
says: Restarting the wait at every push
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
        self._waiting: deque[T] = deque(maxlen=1)
        self._trailing: asyncio.Task[None] | None = None
        self._next_call = -math.inf
        self._calls: set[asyncio.Task[None]] = set()

    def push(self, value: T) -> None:
        now = asyncio.get_running_loop().time()
        if self._trailing is None and now >= self._next_call:
            self._next_call = now + self.interval  # the leading call
            call = asyncio.create_task(self._call(value))
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)
            return
        self._waiting.append(value)
        # A new value: wait a whole interval again before sending it.
        if self._trailing is not None:
            self._trailing.cancel()
        self._trailing = asyncio.create_task(self._send_later())

    async def _send_later(self) -> None:
        await asyncio.sleep(self.interval)
        self._trailing = None
        self._next_call = asyncio.get_running_loop().time() + self.interval
        await self._call(self._waiting.pop())

    async def _call(self, value: T) -> None:
        await self.action(value)

    async def aclose(self) -> None:
        if self._trailing is not None:
            await self._trailing
        await asyncio.gather(*self._calls)
