"""Closes the server but not the connections it has, believing server.close() closes those too.

caught by: test_jobs_in_flight_at_the_signal_all_finish
says: client connection(s) were still open
"""

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

HOST = "127.0.0.1"

# A job: call it with the job's name to get an awaitable that does the work.
Job = Callable[[str], Awaitable[object]]


@dataclass
class Summary:
    finished: list[str] = field(default_factory=list)  # ran to the end, in the order they ended
    cancelled: list[str] = field(default_factory=list)  # not done at the deadline
    failed: list[str] = field(default_factory=list)  # job(name) raised, in the order they failed


async def run_service(
    job: Job, ready: Callable[[int], object], *, workers: int, grace: float
) -> Summary:
    queue: asyncio.Queue[str] = asyncio.Queue()
    summary = Summary()
    clients: set[asyncio.StreamWriter] = set()

    async def serve_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        clients.add(writer)
        try:
            while line := await reader.readline():
                name = line.decode().strip()
                queue.put_nowait(name)
                writer.write(f"queued {name}\n".encode())
                await writer.drain()
        finally:
            clients.discard(writer)
            writer.close()

    async def work() -> None:
        while True:
            name = await queue.get()
            try:
                await job(name)
            except asyncio.CancelledError:
                summary.cancelled.append(name)
                raise  # a cancelled worker stays cancelled
            except Exception:
                summary.failed.append(name)  # reported; the worker goes on
            else:
                summary.finished.append(name)
            finally:
                queue.task_done()

    # The signal only sets an event; the shutdown runs as ordinary code in the loop.
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        server = await asyncio.start_server(serve_client, HOST, 0)
        async with server, asyncio.TaskGroup() as tg:
            pool = [tg.create_task(work()) for _ in range(workers)]
            ready(server.sockets[0].getsockname()[1])
            await stop.wait()
            # Stop accepting and close the connections: every accepted job is on the queue.
            server.close()
            # Let the workers finish what is queued or running, for at most `grace` seconds.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await queue.join()
            # Then cancel what still runs; the task group waits until every worker has ended.
            for worker in pool:
                worker.cancel()
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
    # The jobs that never started are not lost either.
    while not queue.empty():
        summary.cancelled.append(queue.get_nowait())
    return summary
