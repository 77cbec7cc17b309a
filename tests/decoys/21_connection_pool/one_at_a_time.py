"""Guards the pool with an asyncio.Lock, so users go one at a time although `size` may be out.

caught by: test_never_more_than_size_connections_out_and_the_others_wait[class]
says: one at a time
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
        self._lock = asyncio.Lock()

    async def acquire(self) -> Connection:
        await self._lock.acquire()
        if self._idle:
            return self._idle.pop()
        return await self.connect()

    def release(self, conn: Connection) -> None:
        self._idle.append(conn)
        self._lock.release()

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
