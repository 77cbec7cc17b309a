"""Returns at EOF without closing the writer, so the server's socket of each connection stays open.

caught by: test_the_server_closes_the_connection_once_the_client_is_done
says: never closed the connection
"""

import asyncio


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()
    except ConnectionError:
        pass  # the client reset the connection: nobody is left to answer
    # the client is gone: nothing left to do


async def start(host: str, port: int) -> asyncio.Server:
    # Every accepted connection gets a task of its own running handle().
    return await asyncio.start_server(handle, host, port)
