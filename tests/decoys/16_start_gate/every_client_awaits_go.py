"""Lets every client await go() itself instead of opening one gate for all: go is one signal.

caught by: test_every_client_connects_once_sends_once_and_the_replies_come_in_order
says: ONE go signal
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol


class Client(Protocol):
    async def connect(self) -> None: ...

    async def send(self) -> str: ...


async def burst(clients: list[Client], go: Callable[[], Awaitable[None]]) -> list[str]:
    async def at_the_gate(client: Client) -> str:
        await client.connect()
        await go()
        return await client.send()

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(at_the_gate(client)) for client in clients]
    return [task.result() for task in tasks]
