"""Calls gate.wait() without await, so it only builds a coroutine and nobody waits at the gate.

caught by: test_every_client_connects_once_sends_once_and_the_replies_come_in_order
says: wait() was called but never awaited
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
        gate.wait()
        return await client.send()

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(at_the_gate(client)) for client in clients]
        await go()
        gate.set()
    return [task.result() for task in tasks]
