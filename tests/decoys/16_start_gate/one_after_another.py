"""Connects the clients one after another in a loop before sending them to the gate.

caught by: test_the_clients_connect_at_once_while_waiting_for_go
says: one after another
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
        await gate.wait()
        return await client.send()

    async with asyncio.TaskGroup() as tg:
        tasks = []
        for client in clients:
            await client.connect()
            tasks.append(tg.create_task(at_the_gate(client)))
        await go()
        gate.set()
    return [task.result() for task in tasks]
