"""Reads each line with readuntil(b"\\n") and stops at IncompleteReadError, losing a last line.

caught by: test_the_server_closes_the_connection_once_the_client_is_done
says: came without a newline and got no answer
"""

import asyncio
import contextlib


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError:
                break  # EOF: the client is done
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
