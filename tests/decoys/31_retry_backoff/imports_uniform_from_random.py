"""Draws the jitter from `from random import uniform` instead of the rng it was given.

caught by: test_each_wait_doubles_the_one_before
says: another random source
"""

import asyncio
import random
from random import uniform

import aiohttp


class GaveUp(Exception):
    """Every attempt at `url` was answered 503: raised after the last one, naming all three."""

    def __init__(self, url: str, attempts: int, status: int) -> None:
        super().__init__(f"gave up on {url} after {attempts} attempts (last status {status})")
        self.url = url
        self.attempts = attempts
        self.status = status


async def get_with_retry(
    session: aiohttp.ClientSession,
    url: str,
    *,
    attempts: int,
    base_delay: float,
    rng: random.Random | None = None,
) -> str:
    """GET `url` and return the body's text, retrying a 503 with backoff and full jitter.

    At most `attempts` requests in all. After the failure of attempt i (0, 1, 2, ...) wait
    `rng.uniform(0, base_delay * 2**i)` seconds, or the `Retry-After: <seconds>` the 503 gives
    (a number, maybe with a fraction). Any other error status is final: raise it at once
    (`response.raise_for_status()`). When the last attempt fails too, raise GaveUp at once.

    >>> asyncio.run(get_with_retry(session, f"{url}/flaky", attempts=4, base_delay=0.1))
    'hello'
    """
    if rng is None:
        rng = random.Random()
    status = 0
    for attempt in range(attempts):
        async with session.get(url) as response:
            if response.status != 503:
                # Anything else is the answer: a 404 will not change by asking again.
                response.raise_for_status()
                return await response.text()
            status = response.status
            retry_after = response.headers.get("Retry-After")
        # The response is released before the wait: its connection serves the next attempt.
        if attempt == attempts - 1:
            break  # no wait after the last attempt: give up at once
        try:
            # The server knows when it will be ready again: wait exactly that long.
            delay = float(retry_after) if retry_after is not None else -1.0
        except ValueError:
            delay = -1.0  # no number (an HTTP date, text): of no use, like one below 0
        if delay < 0:
            # Exponential backoff with full jitter: clients that failed together spread out.
            delay = uniform(0, base_delay * 2**attempt)
        await asyncio.sleep(delay)
    raise GaveUp(url, attempts, status)
