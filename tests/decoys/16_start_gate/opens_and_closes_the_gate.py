"""Opens the gate and shuts it at once (set, then clear): a client connecting late finds it shut.

caught by: test_a_client_still_connecting_at_go_sends_as_soon_as_it_is_connected
says: gate.clear()
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

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(at_the_gate(client)) for client in clients]
        await go()
        gate.set()  # wake everyone waiting...
        gate.clear()  # ...and reset the gate for next time
    return [task.result() for task in tasks]
