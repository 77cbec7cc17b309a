"""Gives the connection back in `except Exception:` and after the `yield`: a cancel skips both.

caught by: test_a_body_cancelled_mid_query_gives_the_connection_back[asynccontextmanager]
says: the release runs for an exception but not for a cancellation
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Protocol


class Connection(Protocol):
    async def execute(self, query: str) -> str: ...


Connect = Callable[[], Awaitable[Connection]]


class Pool:
    def __init__(self, connect: Connect, size: int) -> None:
        self.connect = connect
        self.size = size
        self._idle: list[Connection] = []
        self._slots = asyncio.Semaphore(size)

    async def acquire(self) -> Connection:
        await self._slots.acquire()
        if self._idle:
            return self._idle.pop()
        return await self.connect()

    def release(self, conn: Connection) -> None:
        self._idle.append(conn)
        self._slots.release()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        conn = await self.acquire()
        try:
            yield conn
        except Exception:
            self.release(conn)
            raise
        self.release(conn)


class PooledConnection:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.conn: Connection | None = None

    async def __aenter__(self) -> Connection:
        self.conn = await self.pool.acquire()
        return self.conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.conn is not None:
            self.pool.release(self.conn)
            self.conn = None
