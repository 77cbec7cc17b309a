"""Starts both pipes with create_task and awaits asyncio.wait(), which cancels nothing.

caught by: test_a_cancelled_relay_closes_both_connections_and_stays_cancelled
says: nobody called cancel() on them
"""

import asyncio
import contextlib
import functools

HOST = "127.0.0.1"
# The most that pipe() copies at a time.
CHUNK = 64 * 1024


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy the bytes that come from `reader` to `writer`, as they come, until the reader's EOF.

    Forward what has arrived at once (CHUNK bytes at most at a time), and wait while the
    receiving side is slow to read: a slow reader slows its sender down, and the proxy holds no
    more than its buffers for it. At EOF, pass the EOF on (shut down the writer's sending side
    only), so the receiver sees the end, and can still answer the other way.
    A connection error (a reset) goes on up to the caller.
    """
    # Whatever has arrived, up to CHUNK bytes; b"" means the sender's EOF.
    while data := await reader.read(CHUNK):
        writer.write(data)
        await writer.drain()  # wait here while the receiver is slow to read
    # Half-close: the receiver sees the end, and the other direction goes on.
    writer.write_eof()


async def relay(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    target_host: str,
    target_port: int,
) -> None:
    """Connect one client to target_host:target_port and copy its bytes both ways at once.

    Each direction is a pipe(): client to target, and target to client. The relay is over once
    both have passed their EOF on, or as soon as one connection is reset (it ends quietly then).
    When it ends, also when it is cancelled, it closes both connections and waits until they
    are closed; a cancelled relay ends cancelled.
    """
    writers = [client_writer]
    try:
        target_reader, target_writer = await asyncio.open_connection(target_host, target_port)
        writers.append(target_writer)
        # Both directions at once, each a task; wait until both are done.
        copies = [
            asyncio.create_task(pipe(client_reader, target_writer)),
            asyncio.create_task(pipe(target_reader, client_writer)),
        ]
        await asyncio.wait(copies)
    except* ConnectionError:
        pass  # a connection was reset (or refused): there is nobody to tell
    finally:
        # Also when cancelled: close both connections, and wait until they are closed.
        for writer in writers:
            writer.close()
        for writer in writers:
            with contextlib.suppress(ConnectionError):  # a reset is reported here once more
                await writer.wait_closed()


async def start_proxy(target_host: str, target_port: int) -> asyncio.Server:
    """Listen on 127.0.0.1, on a port the system picks, and relay() every client to the target.

    >>> server = await start_proxy("127.0.0.1", 8080)
    >>> server.sockets[0].getsockname()  # clients connect here to talk to 127.0.0.1:8080
    ('127.0.0.1', 54321)
    """
    # Every accepted client gets a task of its own, running relay().
    serve = functools.partial(relay, target_host=target_host, target_port=target_port)
    return await asyncio.start_server(serve, HOST, 0)
