"""Kata 16: Event - a start gate: every client connects, then all of them send at go."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol


class Client(Protocol):
    """A load-test client: it connects once, then sends its one request over that connection."""

    async def connect(self) -> None:
        """Open the connection (0.1 to 0.3 s, different for every client)."""
        ...

    async def send(self) -> str:
        """Send the request over the open connection and return the server's reply (0.1 s)."""
        ...


async def burst(clients: list[Client], go: Callable[[], Awaitable[None]]) -> list[str]:
    """Connect every client at once, hold them at a start gate, and let them all send at go.

    `await go()` returns when the operator gives the signal. It is ONE signal: await it once.
    A client sends the moment it is connected AND the gate is open: nobody sends before go,
    and a client still connecting at go sends as soon as it is connected, without the others
    waiting for it. Returns the replies in the order of `clients`.

    >>> asyncio.run(burst([a, b, c], go))   # connect 0.1, 0.3, 0.2 s; go at 0.4 s: 0.5 s
    ['reply to A', 'reply to B', 'reply to C']
    """
    # One gate for every client: closed until set(), then open for good.
    gate = asyncio.Event()

    async def at_the_gate(client: Client) -> str:
        await client.connect()
        await gate.wait()  # sleeps until set(); returns at once if the gate is already open
        return await client.send()

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(at_the_gate(client)) for client in clients]
        # The clients connect while we wait for go; one set() then wakes all of them.
        await go()
        gate.set()
    return [task.result() for task in tasks]
