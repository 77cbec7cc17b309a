"""Retries a call that failed as well as one that timed out, so a failure costs another call.

caught by: test_a_failed_attempt_is_raised_at_once_not_retried
says: retried after fetch() #1 failed
"""

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

# A fetch: call it to get a coroutine that asks a service and returns its answer.
Fetch = Callable[[], Coroutine[Any, Any, str]]


async def fetch_or_fallback(
    fetch: Fetch, deadline: float, fallback: str, *, attempts: int = 1
) -> str:
    """Return fetch()'s answer if it arrives within `deadline` seconds, else `fallback`.

    A call that misses the deadline is cancelled, and the fallback comes at the deadline. A call
    that answers sooner is returned at once, without waiting for the deadline:

    >>> asyncio.run(fetch_or_fallback(recommendations, 0.2, "bestsellers"))  # a 0.5 s call
    'bestsellers'

    Stage 2: up to `attempts` calls, one after another, each a fresh fetch() with a deadline of
    its own; the fallback comes only when every attempt has missed its deadline.
    """
    for attempt in range(attempts):
        try:
            # At the deadline, asyncio.timeout cancels the await inside the block...
            async with asyncio.timeout(deadline):
                # A fresh call for each attempt: a coroutine can be awaited only once.
                return await fetch()
        except TimeoutError:
            # ...and turns that cancellation into TimeoutError once the call has stopped.
            continue  # this attempt is over: try again, if attempts are left
        except Exception:
            # A failed call gets another attempt too; the last one's error goes on up.
            if attempt == attempts - 1:
                raise
    return fallback


async def fetch_batch_within(fetches: dict[str, Fetch], deadline: float) -> dict[str, str]:
    """Run every fetch at once; return {name: answer} of those that answered within `deadline`.

    One deadline for the whole batch: at the deadline, the calls still running are cancelled
    and the answers that arrived in time are returned. If every call answers sooner, the batch
    returns as soon as the last one has answered.

    >>> asyncio.run(fetch_batch_within({"Skylark": skylark, "Dodo": dodo}, 0.2))
    {'Skylark': '€89'}
    """
    arrived: dict[str, str] = {}

    async def keep(name: str, fetch: Fetch) -> None:
        # Each answer is stored the moment it arrives, so the deadline cannot take it back.
        arrived[name] = await fetch()

    # One deadline around the whole group: when it passes, the TaskGroup cancels the calls
    # still running and waits for them to stop; the TimeoutError only means "time is up".
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(deadline), asyncio.TaskGroup() as tg:
            for name, fetch in fetches.items():
                tg.create_task(keep(name, fetch))
    return arrived
