"""Kata 32: rate limit - never more than `rate` requests in any window of `per` seconds."""

import asyncio
from collections import deque
from types import TracebackType

import aiohttp


class RateLimiter:
    """Lets at most `rate` callers through in ANY window of `per` seconds (a sliding window).

    limiter = RateLimiter(rate=3, per=1.0)
    async with limiter:  # waits, if need be, until a 4th call would not break the limit
        ...              # send the request

    - The first `rate` callers go at once (a burst); the next one waits until the oldest of the
      last `rate` passages is `per` seconds old, and not a moment longer.
    - It limits how many requests START per window, not how many are in flight: leaving the
      `async with` block gives nothing back.
    - A caller that stops waiting (cancelled, or a timeout) uses up no passage.
    """

    def __init__(self, rate: int, per: float) -> None:
        self.rate = rate  # passages allowed in any window...
        self.per = per  # ...of this many seconds
        # Add here what acquire() needs (e.g. a deque of recent passage times, an asyncio.Lock).

    async def acquire(self) -> None:
        """Wait until one more passage keeps every window of `per` seconds at `rate` or fewer."""
        raise NotImplementedError(
            "write RateLimiter.acquire(): wait until the oldest of the last `rate` passages "
            "is `per` seconds old (loop.time(), asyncio.sleep)"
        )

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None  # a rate is about when requests start: nothing to give back


async def fetch_all_rate_limited(
    session: aiohttp.ClientSession, urls: list[str], rate: int, per: float
) -> list[str]:
    """GET every url concurrently through ONE RateLimiter(rate, per); return the bodies in order.

    Nine urls with rate=3, per=0.3: three requests at once, three more 0.3 s later, the last
    three at 0.6 s; done 0.6 s plus one response time after the call.

    >>> await fetch_all_rate_limited(session, [f"{base}/items/{n}" for n in range(3)], 3, 0.3)
    ['item 0', 'item 1', 'item 2']
    """
    raise NotImplementedError(
        "write fetch_all_rate_limited(): one task per url, each inside `async with` one shared "
        "RateLimiter"
    )
