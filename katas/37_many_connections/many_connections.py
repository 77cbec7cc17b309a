"""Kata 37: a TCP line server that holds a thousand connections at once."""

import asyncio
import contextlib


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Serve one client: answer each line it sends with that line in capitals, until it is done.

    Read a line, write it back upper-cased (b"hello\\n" -> b"HELLO\\n"), and again, until the
    client closes its side (readline() returns b""); then close the connection and wait until it
    is closed. When the handler is cancelled, it closes the connection too, and stays cancelled.
    A client that resets the connection (ConnectionResetError) is gone: the handler ends quietly.
    """
    raise NotImplementedError(
        "write handle(): answer each line with reader.readline() / writer.write() until EOF, "
        "then close the writer"
    )


async def start(host: str, port: int) -> asyncio.Server:
    """Listen on host:port and serve every connection with handle(), all of them at once.

    >>> server = await start("127.0.0.1", 0)  # port 0: the system picks a free port
    >>> server.sockets[0].getsockname()
    ('127.0.0.1', 54321)
    """
    raise NotImplementedError("write start(): return the server of asyncio.start_server(...)")
