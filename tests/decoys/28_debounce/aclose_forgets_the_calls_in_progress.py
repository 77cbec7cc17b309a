"""aclose() sends the value waiting but returns while a call of the action is still running.

caught by: test_aclose_waits_for_a_call_in_progress
says: aclose() returned while action(1) was still running
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
            self._timer = None
            await self.action(self._waiting.pop())


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
