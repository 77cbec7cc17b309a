"""Kata 35: database - concurrent readers, one writer, atomic transfers over SQLite."""

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
        raise NotImplementedError("write open(): one writer connection, `readers` readers")

    async def close(self) -> None:
        """Close every connection this Bank opened, once the transfer in flight (if any) ended."""
        raise NotImplementedError("write close(): close every connection open() opened")

    async def balance(self, account: str) -> int:
        """The account's committed balance, read on a reader connection; UnknownAccount if none."""
        raise NotImplementedError("write balance(): borrow a reader connection, SELECT the balance")

    async def transfer(self, source: str, target: str, amount: int) -> None:
        """Move `amount` from source to target in one transaction: both updates, or neither.

        Raises UnknownAccount (either account missing) or InsufficientFunds (the source holds
        less than `amount`); any error of the database itself is raised unchanged. After an
        error, both balances are as they were.
        """
        raise NotImplementedError(
            "write transfer(): on the one writer, one at a time, commit both updates or roll back"
        )
