"""Uses loop.call_soon in the callback: the one for the loop's own thread, not call_soon_threadsafe.

caught by: test_each_message_is_handed_to_the_loop_thread_safely
says: loop.call_soon() was called from the legacy-sdk thread
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
OnMessage = Callable[[str], None]


class Sdk(Protocol):
    def subscribe(self, on_message: OnMessage) -> None: ...


async def receive(sdk: Sdk, n: int) -> list[str]:
    loop = asyncio.get_running_loop()
    messages: asyncio.Queue[str] = asyncio.Queue()

    def on_message(msg: str) -> None:
        loop.call_soon(messages.put_nowait, msg)

    sdk.subscribe(on_message)
    return [await messages.get() for _ in range(n)]


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
