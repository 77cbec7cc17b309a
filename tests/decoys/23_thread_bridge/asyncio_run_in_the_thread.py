"""Runs the coroutine with asyncio.run() in the thread: on a new loop of its own, not on `loop`.

caught by: test_a_thread_gets_the_result_of_a_coroutine_run_on_the_loop
says: asyncio.run()
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
        loop.call_soon_threadsafe(messages.put_nowait, msg)

    sdk.subscribe(on_message)
    return [await messages.get() for _ in range(n)]


def run_from_thread(
    loop: asyncio.AbstractEventLoop,
    make_coro: Callable[[], Coroutine[Any, Any, T]],
    timeout: float,
) -> T:
    return asyncio.run(asyncio.wait_for(make_coro(), timeout))
