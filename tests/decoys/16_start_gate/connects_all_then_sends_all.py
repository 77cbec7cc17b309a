"""Gathers the connects, awaits go, then gathers the sends: every step waits for the slowest client.

caught by: test_a_client_still_connecting_at_go_sends_as_soon_as_it_is_connected
says: they waited for B
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol


class Client(Protocol):
    async def connect(self) -> None: ...

    async def send(self) -> str: ...


async def burst(clients: list[Client], go: Callable[[], Awaitable[None]]) -> list[str]:
    await asyncio.gather(*(client.connect() for client in clients))
    await go()
    return list(await asyncio.gather(*(client.send() for client in clients)))
