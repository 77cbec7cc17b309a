"""Calls asyncio.get_running_loop() inside the callback, in the SDK's thread, where no loop runs.

caught by: test_the_messages_arrive_in_the_order_they_were_sent
says: no running event loop
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
OnMessage = Callable[[str], None]


class Sdk(Protocol):
    def subscribe(self, on_message: OnMessage) -> None: ...


async def receive(sdk: Sdk, n: int) -> list[str]:
    messages: asyncio.Queue[str] = asyncio.Queue()

    def on_message(msg: str) -> None:
        asyncio.get_running_loop().call_soon_threadsafe(messages.put_nowait, msg)

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
