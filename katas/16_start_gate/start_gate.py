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
    raise NotImplementedError(
        "write burst(): connect every client, hold them at one gate, open it when go() returns"
    )
