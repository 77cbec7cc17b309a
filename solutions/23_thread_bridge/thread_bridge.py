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
    loop = asyncio.get_running_loop()  # here, in the coroutine: the SDK's thread has no loop
    # An asyncio.Queue belongs to the loop's thread: only code running there may touch it.
    messages: asyncio.Queue[str] = asyncio.Queue()

    def on_message(msg: str) -> None:
        # In the SDK's thread: ask the loop to do the put in its own thread, and wake it up.
        loop.call_soon_threadsafe(messages.put_nowait, msg)

    sdk.subscribe(on_message)
    # Each get() frees the loop until the loop itself has put the next message in.
    return [await messages.get() for _ in range(n)]


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
    # The coroutine runs as a task on the loop's thread; this thread gets a
    # concurrent.futures.Future, which a plain thread may block on.
    future = asyncio.run_coroutine_threadsafe(make_coro(), loop)
    try:
        return future.result(timeout)
    except TimeoutError:
        # Giving up stops the waiting, not the coroutine: cancel its task on the loop too.
        future.cancel()
        raise
