"""Serves at most 100 clients at once with a Semaphore, so the rest of the thousand wait for a slot.

caught by: test_a_thousand_clients_are_all_connected_and_answered_at_once
says: a cap of 100 connections
"""

import asyncio
import contextlib

SLOTS = asyncio.Semaphore(100)


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        async with SLOTS:  # protect the server: at most 100 clients at a time
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
