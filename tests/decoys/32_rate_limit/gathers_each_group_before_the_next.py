"""Awaits each group of `rate` requests before the next: a slow response holds up the rest.

caught by: test_a_slow_response_does_not_hold_up_the_next_requests
says: held up by the slow response
"""

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
        # When the last `rate` callers went through (loop.time()), oldest first.
        self._passages: deque[float] = deque(maxlen=rate)
        # One caller at a time decides and waits: the others queue up behind it, in order.
        self._turn = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one more passage keeps every window of `per` seconds at `rate` or fewer."""
        loop = asyncio.get_running_loop()
        async with self._turn:
            if len(self._passages) == self.rate:
                # The window is full: wait until its oldest passage is `per` seconds old.
                # A caller cancelled here has taken nothing: the lock and the deque are intact.
                await asyncio.sleep(self._passages[0] + self.per - loop.time())
            # maxlen=rate: appending drops the oldest passage, now out of the window.
            self._passages.append(loop.time())

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
    # ONE limiter for every request: a limiter per request would limit nothing.
    limiter = RateLimiter(rate, per)

    async def fetch(url: str) -> str:
        # Wait for a passage, then send; the response may take as long as it likes.
        async with limiter, session.get(url) as response:
            response.raise_for_status()
            return await response.text()

    # `rate` requests at a time through the limiter, each group once the previous one is done.
    bodies: list[str] = []
    for start in range(0, len(urls), rate):
        bodies += await asyncio.gather(*(fetch(url) for url in urls[start : start + rate]))
    return bodies
