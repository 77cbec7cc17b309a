"""Raises CircuitOpen from the failure that opens the circuit, instead of the service's own error.

caught by: test_a_failed_probe_opens_the_circuit_again_for_a_fresh_cool_down
says: CircuitOpen is only for calls the breaker refused
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
        if state == "open" or self._probing:
            raise CircuitOpen(f"circuit {state}: the service is failing, call refused")
        probe = state == "half-open"
        self._probing = probe
        try:
            async with asyncio.timeout(self.call_timeout):
                result = await fn()
        except Exception as error:
            self._failures += 1
            if probe or self._failures >= self.failure_threshold:
                self._opened_at = self.clock()
                raise CircuitOpen("circuit open: the service is failing") from error
            raise
        finally:
            if probe:
                self._probing = False
        self._failures = 0
        self._opened_at = None
        return result
