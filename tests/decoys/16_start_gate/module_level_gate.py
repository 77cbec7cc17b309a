"""Creates the gate Event once at module level: the first burst opens it for every later burst.

caught by: test_a_second_burst_holds_its_clients_until_its_own_go
says: asyncio.Event at module level
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol


class Client(Protocol):
    async def connect(self) -> None: ...

    async def send(self) -> str: ...


gate = asyncio.Event()


async def burst(clients: list[Client], go: Callable[[], Awaitable[None]]) -> list[str]:
    async def at_the_gate(client: Client) -> str:
        await client.connect()
        await gate.wait()
        return await client.send()

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(at_the_gate(client)) for client in clients]
        await go()
        gate.set()
    return [task.result() for task in tasks]
