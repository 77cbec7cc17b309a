"""Closes with a fresh count when the cool-down ends: a failed probe is 1 failure of N.

caught by: test_after_the_cool_down_only_one_of_five_callers_probes
says: half-open handled as closed
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

T = TypeVar("T")
State = Literal["closed", "open", "half-open"]


class CircuitOpen(Exception):
    """The circuit is open: the call was refused at once, without reaching the service."""


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int,
        cool_down: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        call_timeout: float | None = None,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cool_down = cool_down
        self.clock = clock
        self.call_timeout = call_timeout
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self.clock() - self._opened_at < self.cool_down:
            return "open"
        return "half-open"

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        state = self.state
        if state == "open":
            raise CircuitOpen(f"circuit {state}: the service is failing, call refused")
        if state == "half-open":
            self._opened_at = None
            self._failures = 0
        try:
            async with asyncio.timeout(self.call_timeout):
                result = await fn()
        except Exception:
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._opened_at = self.clock()
            raise
        self._failures = 0
        self._opened_at = None
        return result
