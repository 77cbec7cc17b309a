"""Refuses a transfer of the whole balance: `<=` where `<` belongs.

caught by: test_a_transfer_of_the_whole_balance_goes_through
says: an amount equal to the balance was refused
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
        # Add here the connections and what the methods share.
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
        # Each aiosqlite connection runs its statements in a thread of its own.
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
        # Borrow an idle reader (waiting while all are busy), and give it back after.
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
        # The lock keeps the writer to one transfer at a time: no two share a transaction.
        async with self._writing:
            try:
                # BEGIN IMMEDIATE takes SQLite's write lock now, before the balance is checked.
                # Inside the try: a transfer cancelled while BEGIN waits still rolls it back.
                await db.execute("BEGIN IMMEDIATE")
                sql = "SELECT balance FROM accounts WHERE name = ?"
                async with db.execute(sql, (source,)) as cursor:
                    row = await cursor.fetchone()
                if row is None:
                    raise UnknownAccount(source)
                if row[0] <= amount:
                    raise InsufficientFunds(f"{source} holds {row[0]}, less than {amount}")
                sql = "UPDATE accounts SET balance = balance - ? WHERE name = ?"
                await db.execute(sql, (amount, source))
                sql = "UPDATE accounts SET balance = balance + ? WHERE name = ?"
                async with db.execute(sql, (amount, target)) as cursor:
                    if cursor.rowcount == 0:
                        raise UnknownAccount(target)
                await db.commit()
            except BaseException:
                # Any error (or a cancellation) between BEGIN and COMMIT: undo both updates.
                await db.rollback()
                raise
