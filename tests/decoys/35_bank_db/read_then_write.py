"""Reads both balances, then writes the new values, with no lock: concurrent updates are lost.

caught by: test_the_funds_are_checked_inside_the_transfer_s_transaction
says: Updates were lost
"""

import asyncio
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
        """Close every connection this Bank opened."""
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
        assert self._writer is not None, "open the Bank first"
        db = self._writer
        held = await self.balance(source)
        received = await self.balance(target)
        if held < amount:
            raise InsufficientFunds(f"{source} holds {held}, less than {amount}")
        try:
            sql = "UPDATE accounts SET balance = ? WHERE name = ?"
            await db.execute(sql, (held - amount, source))
            await db.execute(sql, (received + amount, target))
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
