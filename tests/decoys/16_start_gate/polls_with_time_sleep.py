"""Waits for the gate in a loop with time.sleep, which freezes the event loop, so go never comes.

caught by: test_every_client_connects_once_sends_once_and_the_replies_come_in_order
says: time.sleep()
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol


class Client(Protocol):
    async def connect(self) -> None: ...

    async def send(self) -> str: ...


async def burst(clients: list[Client], go: Callable[[], Awaitable[None]]) -> list[str]:
    gate = asyncio.Event()

    async def at_the_gate(client: Client) -> str:
        await client.connect()
        while not gate.is_set():
            time.sleep(0.05)
        return await client.send()

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(at_the_gate(client)) for client in clients]
        await go()
        gate.set()
    return [task.result() for task in tasks]
