"""Gathers the go and the clients together: if go() fails, the clients wait at the gate for ever.

caught by: test_a_failing_go_leaves_no_client_waiting_at_the_gate
says: asyncio.gather raised go()'s error
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

    async def open_at_go() -> None:
        await go()
        gate.set()

    _, *replies = await asyncio.gather(open_at_go(), *(at_the_gate(c) for c in clients))
    return replies
