"""Starts the clients with bare create_task and gathers them after go: a cancel leaves them waiting.

caught by: test_a_burst_cancelled_before_go_leaves_no_client_running
says: it had started were still running
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

    tasks = [asyncio.create_task(at_the_gate(client)) for client in clients]
    await go()
    gate.set()
    return list(await asyncio.gather(*tasks))
