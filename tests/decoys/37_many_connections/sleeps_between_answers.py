"""Paces each client with time.sleep(0.2) after an answer, which stops every other connection too.

caught by: test_each_line_is_answered_before_the_next_is_sent
says: The event loop was blocked
"""

import asyncio
import contextlib
import time


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        # One line in, one answer out; b"" means the client has closed its side.
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()
            time.sleep(0.2)  # pace a chatty client: at most five lines a second
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
