"""Kata 28: debounce and throttle - calm a burst of events into a few calls."""

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
        # Add here what push() and aclose() share.

    def push(self, value: T) -> None:
        """Keep `value` and restart the quiet period. Not async: call it from inside the loop."""
        raise NotImplementedError(
            "write Debouncer.push(): keep the value, cancel the timer, start a new one of `quiet` s"
        )

    async def aclose(self) -> None:
        """Send the value still waiting now, then wait until every call of `action` is done."""
        raise NotImplementedError(
            "write Debouncer.aclose(): send the waiting value at once, await every call"
        )


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
      never earlier) and every call has finished: nothing is left running. With nothing
      waiting, it does not wait out the interval.
    """

    def __init__(self, action: Callable[[T], Awaitable[None]], interval: float) -> None:
        self.action = action
        self.interval = interval  # seconds from the start of one call to the start of the next
        # Add here what push() and aclose() share.

    def push(self, value: T) -> None:
        """Send `value` now, or keep it for the end of the interval. Not async."""
        raise NotImplementedError(
            "write Throttler.push(): call at once, or keep the latest value for the interval's end"
        )

    async def aclose(self) -> None:
        """Wait until the value still waiting has been sent, on time, and every call is done."""
        raise NotImplementedError(
            "write Throttler.aclose(): wait for the value still waiting to be sent"
        )
