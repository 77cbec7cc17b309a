"""Writes each answer with writer.write() and never awaits drain(): answers pile up in memory.

caught by: test_a_client_that_stops_reading_makes_its_handler_wait_not_hoard
says: writer.write() without `await writer.drain()`
"""

import asyncio
import contextlib


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            writer.write(line.upper())  # write() does not block: no need to wait
    except ConnectionError:
        pass  # the client reset the connection: nobody is left to answer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def start(host: str, port: int) -> asyncio.Server:
    # Every accepted connection gets a task of its own running handle().
    return await asyncio.start_server(handle, host, port)
