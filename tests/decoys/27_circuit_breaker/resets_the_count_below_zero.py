"""Sets the count of failures to -1 on a success: one failure too many opens it again.

caught by: test_a_success_resets_the_count_of_failures_in_a_row
says: the success sets the count back to 0, not below it
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
    """Guards calls to one service: after `failure_threshold` failures in a row it stops calling.

    payments = CircuitBreaker(failure_threshold=5, cool_down=30.0)
    receipt = await payments.call(lambda: client.charge(order))

    - closed (the start): every call goes to the service. A call that raises counts as a
      failure and its exception reaches the caller unchanged; a success resets the count.
      The `failure_threshold`-th failure in a row opens the circuit.
    - open: every call raises CircuitOpen at once, without calling the service, until
      `cool_down` seconds of `clock()` have passed since the circuit opened.
    - half-open (the cool-down has passed): the next call is a probe and goes to the service.
      While it runs, the other calls raise CircuitOpen at once: one probe, never more.
      The probe succeeds: closed again, count reset. It fails: open again, for a fresh cool-down.
    - A call whose caller is cancelled counts for nothing (a cancelled probe: the next call
      probes). Any success closes the circuit, even of a call that began before it opened;
      a failure that ends while it is open keeps it open, for a fresh cool-down.
    - Stage 2: with `call_timeout`, a call still running after `call_timeout` seconds is
      cancelled and raises TimeoutError, which counts as a failure like any other.
    """

    def __init__(
        self,
        failure_threshold: int,
        cool_down: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        call_timeout: float | None = None,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cool_down = cool_down  # seconds of clock()
        self.clock = clock  # read the time only through it: the tests move it on
        self.call_timeout = call_timeout  # stage 2: seconds (real time) a call may take
        # What call() and state share: the failures in a row so far, when the circuit opened
        # (None while closed), and whether a probe is in flight.
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> State:
        """Now: "closed", "open" (refusing calls) or "half-open" (the cool-down has passed)."""
        if self._opened_at is None:
            return "closed"
        # Open until the cool-down has passed on the clock we were given, then half-open.
        if self.clock() - self._opened_at < self.cool_down:
            return "open"
        return "half-open"

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Return `await fn()` if the circuit lets the call through; raise CircuitOpen if not.

        >>> await breaker.call(lambda: service.get("/health"))
        'ok'
        """
        state = self.state
        # Open, or half-open with the probe already out: refuse before fn() is even called.
        if state == "open" or self._probing:
            raise CircuitOpen(f"circuit {state}: the service is failing, call refused")
        # Mark the probe BEFORE the first await, so the callers that run meanwhile see it.
        probe = state == "half-open"
        self._probing = probe
        try:
            # Stage 2: a call that takes too long is cancelled and raises TimeoutError here.
            async with asyncio.timeout(self.call_timeout):
                result = await fn()
        except Exception:
            # Counted outside the timeout block, where a timeout is a TimeoutError; the
            # exception itself goes on to the caller. (A cancelled caller counts for nothing.)
            self._failures += 1
            if probe or self._failures >= self.failure_threshold:
                self._opened_at = self.clock()  # open, for a fresh cool-down
            raise
        finally:
            if probe:
                self._probing = False
        # Any success closes the circuit and starts the count again.
        self._failures = -1
        self._opened_at = None
        return result
