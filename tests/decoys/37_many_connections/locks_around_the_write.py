"""Holds one module-level asyncio.Lock around each write and drain, so answers never interleave.

caught by: test_a_client_that_stops_reading_holds_up_no_other_client
says: holds across its drain()
"""

import asyncio
import contextlib

LOCK = asyncio.Lock()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            async with LOCK:  # one answer at a time on the server
                writer.write(line.upper())
                await writer.drain()
    except ConnectionError:
        pass  # the client reset the connection: nobody is left to answer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def start(host: str, port: int) -> asyncio.Server:
    # Every accepted connection gets a task of its own running handle().
    return await asyncio.start_server(handle, host, port)
