"""Kata 23: thread_bridge - hand work safely between a foreign thread and the event loop."""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

# on_message(msg): your callback. The SDK calls it FROM ITS OWN THREAD, once per message.
OnMessage = Callable[[str], None]


class Sdk(Protocol):
    """A legacy, callback-based client library that runs a background thread of its own."""

    def subscribe(self, on_message: OnMessage) -> None:
        """Start delivering: from now on, the SDK's thread calls on_message(msg) per message."""
        ...


async def receive(sdk: Sdk, n: int) -> list[str]:
    """Subscribe to `sdk`; return the first `n` messages it delivers, in the order it sent them.

    The callback runs in the SDK's thread, where nothing of the event loop may be touched: hand
    each message over to the loop with a thread-safe call. Return the moment the n-th message
    has arrived, and never block the loop while you wait.

    >>> asyncio.run(receive(sdk, 3))   # the SDK sends at 0.07, 0.17 and 0.27 s
    ['order-1 paid', 'order-2 paid', 'order-3 paid']
    """
    raise NotImplementedError(
        "write receive(): hand each message from the SDK's thread to the loop, then await them"
    )


def run_from_thread(
    loop: asyncio.AbstractEventLoop,
    make_coro: Callable[[], Coroutine[Any, Any, T]],
    timeout: float,
) -> T:
    """From a plain thread: run make_coro() on `loop` and wait (blocking this thread) for it.

    Return its result. Wait at most `timeout` seconds; then cancel the coroutine on the loop
    and raise TimeoutError.

    >>> run_from_thread(loop, order_status, timeout=1.0)   # in a thread, while `loop` runs
    'order-7: shipped'
    """
    raise NotImplementedError(
        "write run_from_thread(): hand the coroutine to the loop, then wait for its result"
    )
