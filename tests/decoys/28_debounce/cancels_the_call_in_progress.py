"""One task sleeps `quiet` then calls the action; every push cancels it, even mid-call.

caught by: test_a_push_during_a_call_does_not_cancel_it
says: made while action(1) was running, cancelled that call
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
        self._task: asyncio.Task[None] | None = None
        self._sleeping = False

    def push(self, value: T) -> None:
        self._latest.append(value)
        # Restart the quiet period: cancel the task waiting, start a new one.
        if self._task is not None:
            self._task.cancel()
        self._sleeping = True
        self._task = asyncio.create_task(self._wait_then_call())

    async def _wait_then_call(self) -> None:
        await asyncio.sleep(self.quiet)
        self._sleeping = False
        await self.action(self._latest.pop())

    async def aclose(self) -> None:
        if self._task is not None and self._sleeping:
            self._task.cancel()
            self._sleeping = False
            await self.action(self._latest.pop())
        elif self._task is not None:
            await self._task


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
