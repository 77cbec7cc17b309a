"""aclose() cancels all that is pending, the timer and the calls in progress, and sends nothing.

caught by: test_aclose_waits_for_a_call_in_progress
says: aclose(), called while action(1) was running, cancelled that call
"""

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Debouncer(Generic[T]):
    """Calls `action` once a burst of pushes has calmed down, with the last value pushed.

    search = Debouncer(run_search, quiet=0.3)
    search.push("a"); search.push("as"); search.push("asy")  # keystrokes, 0.1 s apart
    # 0.3 s after the last one: run_search("asy"), once.

    - push(value) keeps `value` (it replaces the value waiting, if any) and starts a timer of
      `quiet` seconds; a push before the timer fires cancels that timer and starts a new one.
    - When the timer fires, `action(latest value)` is called in a task of its own: a push made
      while a call runs starts a new timer, and never cancels that call.
    - aclose() sends the value still waiting at once (no value is lost), leaves no timer armed,
      and returns once every call of `action` has finished: nothing is left running.
    - Stage 2: with `max_wait`, a burst that never calms down is sent all the same: at the
      latest `max_wait` seconds after the first push of a burst, `action` is called with the
      latest value; the next push starts a new burst.
    """

    def __init__(
        self,
        action: Callable[[T], Awaitable[None]],
        quiet: float,
        *,
        max_wait: float | None = None,
    ) -> None:
        self.action = action
        self.quiet = quiet  # seconds without a push before the call
        self.max_wait = max_wait  # stage 2: seconds a burst may wait for its call, at most
        # What push() and aclose() share: the value waiting (a deque of one keeps only the
        # latest), the timer that will send it, when its burst began, and the calls running.
        self._waiting: deque[T] = deque(maxlen=1)
        self._timer: asyncio.TimerHandle | None = None
        self._burst_began: float | None = None
        self._calls: set[asyncio.Task[None]] = set()

    def push(self, value: T) -> None:
        """Keep `value` and restart the quiet period. Not async: call it from inside the loop."""
        loop = asyncio.get_running_loop()
        self._waiting.append(value)
        now = loop.time()
        if self._burst_began is None:
            self._burst_began = now
        delay = self.quiet
        if self.max_wait is not None:
            # Stage 2: never later than max_wait after the first push of the burst.
            delay = min(delay, self._burst_began + self.max_wait - now)
        # A new push restarts the quiet period: cancel the timer armed, arm a new one.
        # A timer is only a callback in the loop's schedule: cancelling it stops no call.
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(delay, self._send)

    def _send(self) -> None:
        """Call `action` with the value waiting, in a task of its own; the burst is over."""
        self._timer = None
        self._burst_began = None
        call = asyncio.create_task(self._call(self._waiting.pop()))
        # Keep every call running, so that aclose() can wait for them.
        self._calls.add(call)
        call.add_done_callback(self._calls.discard)

    async def _call(self, value: T) -> None:
        await self.action(value)

    async def aclose(self) -> None:
        """Send the value still waiting now, then wait until every call of `action` is done."""
        # Closing: stop what is scheduled and what runs.
        if self._timer is not None:
            self._timer.cancel()
        for call in self._calls:
            call.cancel()
        await asyncio.gather(*self._calls, return_exceptions=True)


class Throttler(Generic[T]):
    """Calls `action` at most once per `interval`, with the latest value, and loses no last value.

    save = Throttler(save_draft, interval=1.0)
    save.push(text)  # at every keystroke: a save at once, then at most one save a second

    - A push while no interval is running calls `action(value)` at once (the leading edge),
      and an interval of `interval` seconds starts with that call.
    - Pushes during the interval are coalesced: only the latest value waits, and it is sent
      when the interval ends (the trailing edge), which starts the next interval.
    - Two calls never start less than `interval` seconds apart.
    - aclose() waits until the value still waiting has been sent (when its interval ends,
      never earlier) and every call has finished: nothing is left running.
    """

    def __init__(self, action: Callable[[T], Awaitable[None]], interval: float) -> None:
        self.action = action
        self.interval = interval  # seconds from the start of one call to the start of the next
        # What push() and aclose() share: the value waiting (only the latest), the task that
        # sends it, and the loop time from which the next call may start.
        self._waiting: deque[T] = deque(maxlen=1)
        self._sender: asyncio.Task[None] | None = None
        self._next_call = -math.inf

    def push(self, value: T) -> None:
        """Send `value` now, or keep it for the end of the interval. Not async."""
        # Coalesce: of the values pushed during an interval, only the latest waits.
        self._waiting.append(value)
        # One sender at a time; it ends once nothing is waiting.
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send())

    async def _send(self) -> None:
        """Send the value waiting as soon as the interval allows, until nothing is waiting."""
        loop = asyncio.get_running_loop()
        while self._waiting:
            # Wait for the interval to end; on the leading edge it already has: no wait.
            await asyncio.sleep(max(0.0, self._next_call - loop.time()))
            # Each call starts the next interval, so no two calls are closer than `interval`.
            self._next_call = loop.time() + self.interval
            await self.action(self._waiting.pop())

    async def aclose(self) -> None:
        """Wait until the value still waiting has been sent, on time, and every call is done."""
        # The sender keeps the interval for the last value too: no value lost, no call early.
        if self._sender is not None:
            await self._sender
