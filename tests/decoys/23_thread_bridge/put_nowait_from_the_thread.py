"""Passes queue.put_nowait itself as the callback, so the SDK's thread touches the asyncio queue.

caught by: test_each_message_is_handed_to_the_loop_thread_safely
says: put_nowait() ran in the legacy-sdk thread
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
    sdk.subscribe(messages.put_nowait)
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
