"""Closes the connection in a `finally:` but catches nothing: a client's reset escapes handle().

caught by: test_a_client_that_resets_its_connection_disturbs_no_one
says: reaches no one who can catch it
"""

import asyncio


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Serve one client: answer each line it sends with that line in capitals, until it is done.

    Read a line, write it back upper-cased (b"hello\\n" -> b"HELLO\\n"), and again, until the
    client closes its side (readline() returns b""); then close the connection and wait until it
    is closed. When the handler is cancelled, it closes the connection too, and stays cancelled.
    A client that resets the connection (ConnectionResetError) is gone: the handler ends quietly.
    """
    try:
        # One line in, one answer out; b"" means the client has closed its side.
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()  # wait here while the client is slow to read
    finally:
        # Also when cancelled: close this connection, and wait until it is closed.
        writer.close()
        await writer.wait_closed()


async def start(host: str, port: int) -> asyncio.Server:
    """Listen on host:port and serve every connection with handle(), all of them at once.

    >>> server = await start("127.0.0.1", 0)  # port 0: the system picks a free port
    >>> server.sockets[0].getsockname()
    ('127.0.0.1', 54321)
    """
    # Every accepted connection gets a task of its own running handle().
    return await asyncio.start_server(handle, host, port)
