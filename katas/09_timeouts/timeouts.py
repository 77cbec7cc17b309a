"""Kata 09: timeouts - give up on slow calls at a deadline, and keep what arrived in time."""

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
    raise NotImplementedError(
        "write fetch_or_fallback(): await fetch() under a deadline; on timeout return the fallback"
    )


async def fetch_batch_within(fetches: dict[str, Fetch], deadline: float) -> dict[str, str]:
    """Run every fetch at once; return {name: answer} of those that answered within `deadline`.

    One deadline for the whole batch: at the deadline, the calls still running are cancelled
    and the answers that arrived in time are returned. If every call answers sooner, the batch
    returns as soon as the last one has answered.

    >>> asyncio.run(fetch_batch_within({"Skylark": skylark, "Dodo": dodo}, 0.2))
    {'Skylark': '€89'}
    """
    raise NotImplementedError(
        "write fetch_batch_within(): run the fetches together, keep the answers in by the deadline"
    )
