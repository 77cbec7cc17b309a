"""Gathers the clients at the gate first, then awaits go and opens it: nobody is left to open it.

caught by: test_every_client_connects_once_sends_once_and_the_replies_come_in_order
says: awaiting the clients (their tasks, or a gather of them) before `await go()`
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol


class Client(Protocol):
    async def connect(self) -> None: ...

    async def send(self) -> str: ...


async def burst(clients: list[Client], go: Callable[[], Awaitable[None]]) -> list[str]:
    gate = asyncio.Event()

    async def at_the_gate(client: Client) -> str:
        await client.connect()
        await gate.wait()
        return await client.send()

    replies = await asyncio.gather(*(at_the_gate(client) for client in clients))
    await go()
    gate.set()
    return list(replies)
