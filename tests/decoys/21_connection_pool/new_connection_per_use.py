"""Opens a new connection for every use and drops it on release, so connections are never reused.

caught by: test_uses_one_after_another_share_one_connection[class]
says: a new connection for every use
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
        self._slots = asyncio.Semaphore(size)

    async def acquire(self) -> Connection:
        await self._slots.acquire()
        return await self.connect()

    def release(self, conn: Connection) -> None:
        self._slots.release()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        conn = await self.acquire()
        try:
            yield conn
        finally:
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
