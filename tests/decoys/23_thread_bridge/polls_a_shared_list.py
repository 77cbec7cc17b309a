"""Lets the callback append to a list and checks it every 0.25 s, so a message waits for the check.

caught by: test_receive_returns_as_soon_as_the_last_message_arrives
says: the message did not wake receive
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
OnMessage = Callable[[str], None]


class Sdk(Protocol):
    def subscribe(self, on_message: OnMessage) -> None: ...


async def receive(sdk: Sdk, n: int) -> list[str]:
    received: list[str] = []
    sdk.subscribe(received.append)  # list.append is thread-safe
    while len(received) < n:
        await asyncio.sleep(0.25)
    return received[:n]


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
