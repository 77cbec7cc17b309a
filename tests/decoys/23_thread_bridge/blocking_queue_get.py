"""Uses a thread-safe queue.Queue and its blocking get() in the coroutine, which freezes the loop.

caught by: test_the_messages_arrive_in_the_order_they_were_sent
says: the event loop was blocked
"""

import asyncio
import queue
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
OnMessage = Callable[[str], None]


class Sdk(Protocol):
    def subscribe(self, on_message: OnMessage) -> None: ...


async def receive(sdk: Sdk, n: int) -> list[str]:
    messages: queue.Queue[str] = queue.Queue()
    sdk.subscribe(messages.put)
    return [messages.get() for _ in range(n)]


def run_from_thread(
    loop: asyncio.AbstractEventLoop,
    make_coro: Callable[[], Coroutine[Any, Any, T]],
    timeout: float,
) -> T:
    future = asyncio.run_coroutine_threadsafe(make_coro(), loop)
    try:
        return future.result(timeout)
    except TimeoutError:
        future.cancel()
        raise
