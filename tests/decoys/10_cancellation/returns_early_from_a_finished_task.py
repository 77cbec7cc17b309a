"""Returns at once when the task is already done, dropping the error a failed worker ended with.

caught by: test_stop_raises_the_error_of_a_worker_that_had_already_failed
says: asked task.done(), which answered True
"""

import asyncio
from collections.abc import Iterable
from typing import Protocol


class Connection(Protocol):
    """A database connection borrowed from a pool."""

    async def execute(self, job: str) -> None:
        """Run one job on this connection."""
        ...


class Pool(Protocol):
    """A connection pool: every connection acquired must be released, or the pool runs dry."""

    async def acquire(self) -> Connection:
        """Borrow a connection."""
        ...

    async def release(self, conn: Connection) -> None:
        """Give the connection back (this awaits too: the pool resets the connection, 0.1 s)."""
        ...


async def worker(pool: Pool, jobs: Iterable[str]) -> None:
    """Borrow one connection from `pool`, run every job on it in order, then give it back.

    `jobs` may never run out: the worker then runs until it is cancelled. However it ends (out
    of jobs, a failed job, or cancelled), it releases the connection; cancelled, it ends
    cancelled: the CancelledError goes on up to whoever awaits the task.
    """
    # Acquire before `try`: cancelled while acquiring, there is nothing to release.
    conn = await pool.acquire()
    try:
        for job in jobs:
            await conn.execute(job)
    finally:
        # Runs however the loop ends; a CancelledError goes on up once the release is done.
        await pool.release(conn)


async def stop(task: asyncio.Task[None]) -> None:
    """Cancel `task` and return once it has really finished (its cleanup done).

    The task was cancelled, not the caller: stop() returns normally. But if the caller itself is
    cancelled while stop() waits, that CancelledError goes on up. A task that had already ended
    with an error (a failed job) has nothing left to cancel: stop() raises that error.
    """
    if task.done():
        return  # already over: nothing to stop
    # cancel() only asks: the task gets a CancelledError at its next await, then cleans up.
    task.cancel()
    try:
        # Awaiting the task waits for its cleanup; it then raises the task's CancelledError here.
        await task
    except asyncio.CancelledError:
        # That error is the task's, unless our own task is being cancelled too: then pass it on.
        current = asyncio.current_task()
        if current is not None and current.cancelling() > 0:
            raise
