"""Calls writer.close() at the end of handle() but never awaits writer.wait_closed().

caught by: test_handle_returns_only_once_its_connection_is_closed
says: without `await writer.wait_closed()`
"""

import asyncio


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()
    except ConnectionError:
        pass  # the client reset the connection: nobody is left to answer
    finally:
        writer.close()  # closed: nothing more to wait for


async def start(host: str, port: int) -> asyncio.Server:
    # Every accepted connection gets a task of its own running handle().
    return await asyncio.start_server(handle, host, port)
