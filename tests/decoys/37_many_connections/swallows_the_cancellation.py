"""Catches CancelledError to end quietly on shutdown, so a cancelled handler returns as if done.

caught by: test_a_cancelled_handler_closes_its_connection_and_stays_cancelled
says: swallowed the CancelledError
"""

import asyncio
import contextlib


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        # One line in, one answer out; b"" means the client has closed its side.
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()
    except asyncio.CancelledError:
        pass  # the server is shutting down: nothing to report
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
