"""waits with asyncio.sleep itself, never with the `sleep` it is given (real time passes)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def retry(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    base_delay: float,
    max_delay: float,
    retry_on: tuple[type[Exception], ...] = (ConnectionError, TimeoutError),
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    rng: Callable[[], float] = random.random,
) -> T:
    """Await `call()` until it succeeds, at most `attempts` times, and return what it returns.

    - the first call that succeeds gives the result: no further call, no further wait;
    - after failure n (1, 2, ...) with an error of a type in `retry_on`, wait
      `rng() * min(max_delay, base_delay * 2 ** (n - 1))` seconds through `sleep`, then call
      again: a window that doubles after each failure up to `max_delay`, and a fresh draw of
      `rng()` (0 <= draw < 1) for each wait ("full jitter");
    - at most `attempts` calls (1 or more): when the last one fails too, its error is raised
      at once, as it was (the same exception object), with no wait after it;
    - an error of a type not in `retry_on` is raised at once: no wait, no further call;
    - a cancellation, during a call or during a wait, ends retry at once with CancelledError:
      no further call.
    """
    attempt = 1
    while True:
        try:
            return await call()
        except retry_on:  # CancelledError is no Exception: it goes up and ends the retry
            if attempt >= attempts:
                raise  # the last attempt's error, as it was: nothing is left to wait for
        # Full jitter: a random share of the window, so that clients which failed together do
        # not all come back at the same moment.
        await asyncio.sleep(rng() * min(max_delay, base_delay * 2 ** (attempt - 1)))
        attempt += 1
