"""Reads everything with reader.read() and answers then, but read() waits for the client's EOF.

caught by: test_each_line_is_answered_before_the_next_is_sent
says: reads until EOF
"""

import asyncio
import contextlib


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        data = await reader.read()  # everything the client sends
        for line in data.splitlines(keepends=True):
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
