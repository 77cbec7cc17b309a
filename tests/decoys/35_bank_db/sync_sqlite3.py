"""Makes transfers with the stdlib sqlite3 module inside the coroutine: its waits block the loop.

caught by: test_a_cancelled_transfer_rolls_back_and_the_next_one_works
says: The event loop was blocked
"""

import asyncio
import sqlite3
from pathlib import Path
from types import TracebackType

import aiosqlite


class InsufficientFunds(Exception):
    """The source account holds less than the amount: nothing was moved."""


class UnknownAccount(Exception):
    """No account has this name: nothing was moved."""


class Bank:
    """Bank accounts in an SQLite file: table accounts(name TEXT PRIMARY KEY, balance INTEGER).

    Many tasks share one Bank at once:

        async with Bank(Path("bank.db")) as bank:
            await bank.transfer("alice", "bob", 30)
            print(await bank.balance("bob"))

    Reads go through `readers` reader connections, side by side, and never wait for a
    transfer. Transfers go through ONE writer connection, one at a time, each in a
    transaction of its own.
    """

    def __init__(self, path: Path, readers: int = 2) -> None:
        self.path = path
        self.readers = readers
        self._connections: list[aiosqlite.Connection] = []
        self._writer: aiosqlite.Connection | None = None
        self._writing = asyncio.Lock()  # one transfer at a time on the writer
        self._idle_readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()

    async def __aenter__(self) -> "Bank":
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the connections: one writer and `readers` readers (aiosqlite.connect)."""
        self._writer = await aiosqlite.connect(self.path)
        self._connections.append(self._writer)
        for _ in range(self.readers):
            reader = await aiosqlite.connect(self.path)
            self._connections.append(reader)
            self._idle_readers.put_nowait(reader)

    async def close(self) -> None:
        """Close every connection this Bank opened, once the transfer in flight (if any) ended."""
        # A transfer in flight holds the lock: wait for its commit or rollback, then close.
        async with self._writing:
            while self._connections:
                await self._connections.pop().close()

    async def balance(self, account: str) -> int:
        """The account's committed balance, read on a reader connection; UnknownAccount if none."""
        reader = await self._idle_readers.get()
        try:
            sql = "SELECT balance FROM accounts WHERE name = ?"
            async with reader.execute(sql, (account,)) as cursor:
                row = await cursor.fetchone()
        finally:
            self._idle_readers.put_nowait(reader)
        if row is None:
            raise UnknownAccount(account)
        return int(row[0])

    async def transfer(self, source: str, target: str, amount: int) -> None:
        """Move `amount` from source to target in one transaction: both updates, or neither.

        Raises UnknownAccount (either account missing) or InsufficientFunds (the source holds
        less than `amount`); any error of the database itself is raised unchanged. After an
        error, both balances are as they were.
        """
        async with self._writing:
            db = sqlite3.connect(self.path)
            try:
                db.execute("BEGIN IMMEDIATE")
                row = db.execute(
                    "SELECT balance FROM accounts WHERE name = ?", (source,)
                ).fetchone()
                if row is None:
                    raise UnknownAccount(source)
                if row[0] < amount:
                    raise InsufficientFunds(f"{source} holds {row[0]}, less than {amount}")
                db.execute(
                    "UPDATE accounts SET balance = balance - ? WHERE name = ?", (amount, source)
                )
                cursor = db.execute(
                    "UPDATE accounts SET balance = balance + ? WHERE name = ?", (amount, target)
                )
                if cursor.rowcount == 0:
                    raise UnknownAccount(target)
                db.commit()
            except BaseException:
                db.rollback()
                raise
            finally:
                db.close()
