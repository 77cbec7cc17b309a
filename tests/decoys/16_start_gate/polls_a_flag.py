"""Checks a flag every 0.05 s (polling) instead of waiting on an Event, so go is noticed late.

caught by: test_a_client_waits_at_the_gate_without_polling
says: Polling
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol


class Client(Protocol):
    async def connect(self) -> None: ...

    async def send(self) -> str: ...


async def burst(clients: list[Client], go: Callable[[], Awaitable[None]]) -> list[str]:
    started = False

    async def at_the_gate(client: Client) -> str:
        await client.connect()
        while not started:
            await asyncio.sleep(0.05)
        return await client.send()

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(at_the_gate(client)) for client in clients]
        await go()
        started = True
    return [task.result() for task in tasks]
