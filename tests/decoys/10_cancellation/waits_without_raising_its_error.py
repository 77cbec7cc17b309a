"""Waits for the cancelled task with asyncio.wait, which never raises what the task ended with.

caught by: test_stop_raises_the_error_of_a_worker_that_had_already_failed
says: which answered False
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
    task.cancel()
    # asyncio.wait waits until the task has finished without raising its CancelledError; a
    # cancellation of our own still goes on up.
    await asyncio.wait([task])
