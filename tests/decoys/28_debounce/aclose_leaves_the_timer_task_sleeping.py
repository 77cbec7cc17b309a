"""Sleeps out the quiet period in a timer task; aclose() sends the value but leaves that task.

caught by: test_aclose_sends_the_value_still_waiting_at_once_and_nothing_after
says: running _wait()
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
        self._latest: deque[T] = deque(maxlen=1)
        self._timer: asyncio.Task[None] | None = None
        self._calls: set[asyncio.Task[None]] = set()

    def push(self, value: T) -> None:
        self._latest.append(value)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.create_task(self._wait())

    async def _wait(self) -> None:
        await asyncio.sleep(self.quiet)
        self._timer = None
        self._start(self._latest[-1])

    def _start(self, value: T) -> None:
        call = asyncio.create_task(self._call(value))
        self._calls.add(call)
        call.add_done_callback(self._calls.discard)

    async def _call(self, value: T) -> None:
        await self.action(value)

    async def aclose(self) -> None:
        if self._timer is not None:
            self._start(self._latest[-1])  # send the value still waiting now
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
