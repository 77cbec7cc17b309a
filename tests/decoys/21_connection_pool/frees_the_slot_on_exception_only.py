"""Frees the slot of a failed connect() in `except Exception:`, which a cancelled connect skips.

caught by: test_a_user_cancelled_while_connecting_or_waiting_gives_its_slot_back[class]
says: the release runs for an exception but not for a cancellation
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Protocol


class Connection(Protocol):
    """An open database connection."""

    async def execute(self, query: str) -> str:
        """Run one query and return its result."""
        ...


# Opens a new connection (slow: a network round trip, TLS, a login).
Connect = Callable[[], Awaitable[Connection]]


class Pool:
    """Lends out at most `size` connections at once, opened with `connect()` and then reused.

    pool = Pool(connect, size=2)
    async with pool.connection() as conn:  # the generator form
        await conn.execute("SELECT 1")
    async with PooledConnection(pool) as conn:  # the class form, the same behaviour
        await conn.execute("SELECT 1")
    """

    def __init__(self, connect: Connect, size: int) -> None:
        self.connect = connect
        self.size = size
        self._idle: list[Connection] = []  # connections given back, ready to be reused
        self._slots = asyncio.Semaphore(size)  # one slot per connection that may be out

    async def acquire(self) -> Connection:
        """Wait while `size` connections are out; then lend an idle one, or open a new one.

        connect() is called only when no connection given back is free, so a pool never
        opens more than `size` connections. A user who finds them all out waits (it does not
        fail) until release() gives one back.
        """
        await self._slots.acquire()  # all `size` out: wait here until one is released
        if self._idle:
            return self._idle.pop()  # reuse: no new connect while one is free
        try:
            return await self.connect()
        except Exception:
            self._slots.release()  # the connect failed: free its slot again
            raise

    def release(self, conn: Connection) -> None:
        """Take `conn` back: it is idle again, and a user waiting in acquire() may have it."""
        self._idle.append(conn)
        self._slots.release()  # wakes one user waiting in acquire(), if any

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """`async with pool.connection() as conn:` lends `conn` for the block, then takes it back.

        It is given back however the block ends: normally, by an exception (which goes on up
        to the caller, not swallowed), or cancelled (the task still ends cancelled).
        """
        conn = await self.acquire()  # before `try`: a failed acquire has nothing to give back
        try:
            yield conn  # the block runs here; its exception or cancellation is raised here
        finally:
            self.release(conn)  # every way out passes here; the exception then goes on up


class PooledConnection:
    """`async with PooledConnection(pool) as conn:`: pool.connection() written as a class.

    Python calls `await __aenter__()` on entering the block (its result is bound to `conn`) and
    `await __aexit__(...)` on leaving it, however it is left.
    """

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.conn: Connection | None = None  # the connection lent for the block

    async def __aenter__(self) -> Connection:
        """Borrow a connection from the pool and return it (it becomes `conn`)."""
        self.conn = await self.pool.acquire()
        return self.conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Give the connection back, however the block ended (`exc` is its exception, or None).

        Return None: a true value would tell Python to swallow the block's exception.
        """
        # Python calls __aexit__ on every way out of the block, so no try/finally is needed.
        if self.conn is not None:
            self.pool.release(self.conn)
            self.conn = None
        # Returning None (falsy) lets the block's exception, CancelledError too, go on up.
