"""Holds one module-level asyncio.Lock for the whole conversation, so clients are served one by one.

caught by: test_a_thousand_clients_are_all_connected_and_answered_at_once
says: ONE connection at a time
"""

import asyncio
import contextlib

LOCK = asyncio.Lock()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        async with LOCK:  # one conversation at a time, to keep the server simple
            while line := await reader.readline():
                writer.write(line.upper())
                await writer.drain()
    except ConnectionError:
        pass  # the client reset the connection: nobody is left to answer
    finally:
        # Also when cancelled: close this connection, and wait until it is closed.
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def start(host: str, port: int) -> asyncio.Server:
    # Every accepted connection gets a task of its own running handle().
    return await asyncio.start_server(handle, host, port)
