"""Holds the lock around the whole deposit, receipt included: the slow receipts go one by one.

caught by: test_receipts_are_sent_outside_the_lock_so_they_overlap
says: sending the receipt inside `async with self._lock:`
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol


class Store(Protocol):
    async def read(self) -> int: ...

    async def write(self, balance: int) -> None: ...


SendReceipt = Callable[[int, int], Awaitable[None]]


class Account:
    def __init__(self, store: Store, send_receipt: SendReceipt) -> None:
        self.store = store
        self.send_receipt = send_receipt
        self._lock = asyncio.Lock()

    async def deposit(self, amount: int) -> int:
        async with self._lock:
            balance = await self.store.read()
            new_balance = balance + amount
            await self.store.write(new_balance)
            await self.send_receipt(amount, new_balance)
        return new_balance
