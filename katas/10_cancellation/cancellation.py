"""Kata 10: cancellation - a cancelled worker gives its connection back, and stop() waits for it."""

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
    raise NotImplementedError(
        "write worker(): acquire a connection, run the jobs, and release it however you end"
    )


async def stop(task: asyncio.Task[None]) -> None:
    """Cancel `task` and return once it has really finished (its cleanup done).

    The task was cancelled, not the caller: stop() returns normally. But if the caller itself is
    cancelled while stop() waits, that CancelledError goes on up. A task that had already ended
    with an error (a failed job) has nothing left to cancel: stop() raises that error.
    """
    raise NotImplementedError("write stop(): cancel the task, then wait until it has finished")
