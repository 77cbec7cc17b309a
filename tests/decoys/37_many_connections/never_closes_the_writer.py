"""Returns at EOF without closing the writer, so the server's socket of each connection stays open.

caught by: test_each_line_is_answered_before_the_next_is_sent
says: handle() never closed its writer
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
