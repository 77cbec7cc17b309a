"""Kata 15: lock - concurrent deposits that lose no update."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol


class Store(Protocol):
    """Where the balance lives (a database, say): reading and writing it are awaits."""

    async def read(self) -> int:
        """The balance as it is stored now."""
        ...

    async def write(self, balance: int) -> None:
        """Store `balance` as the new balance."""
        ...


# Send a receipt: call it with the amount deposited and the new balance (it takes 0.1 s).
SendReceipt = Callable[[int, int], Awaitable[None]]


class Account:
    """A bank account whose balance lives in `store`; every deposit sends a receipt."""

    def __init__(self, store: Store, send_receipt: SendReceipt) -> None:
        self.store = store
        self.send_receipt = send_receipt
        # ONE lock per account, shared by every deposit (a lock made per call guards nothing).
        self._lock = asyncio.Lock()

    async def deposit(self, amount: int) -> int:
        """Add `amount` to the stored balance, send a receipt, return the new balance.

        Many deposits may run at once and none may be lost: from reading the balance to
        writing `balance + amount`, no other deposit may touch the balance. The receipt,
        `await send_receipt(amount, new_balance)`, is slow and leaves the balance alone, so
        the receipts of different deposits go out at the same time. deposit() returns once
        its receipt has been sent.

        >>> await Account(store, send_receipt).deposit(10)  # the store held 100
        110
        """
        # The read and the write form one step: hold the lock from the one to the other.
        async with self._lock:
            balance = await self.store.read()
            new_balance = balance + amount
            await self.store.write(new_balance)
        # The slow receipt does not touch the balance: send it after releasing the lock.
        await self.send_receipt(amount, new_balance)
        return new_balance
