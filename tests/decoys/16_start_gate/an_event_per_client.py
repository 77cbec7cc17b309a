"""Creates the Event inside each client's coroutine, so burst sets a gate that no client waits at.

caught by: test_every_client_connects_once_sends_once_and_the_replies_come_in_order
says: another Event than the one the clients wait on
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol


class Client(Protocol):
    async def connect(self) -> None: ...

    async def send(self) -> str: ...


async def at_the_gate(client: Client) -> str:
    gate = asyncio.Event()
    await client.connect()
    await gate.wait()
    return await client.send()


async def burst(clients: list[Client], go: Callable[[], Awaitable[None]]) -> list[str]:
    gate = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(at_the_gate(client)) for client in clients]
        await go()
        gate.set()
    return [task.result() for task in tasks]
