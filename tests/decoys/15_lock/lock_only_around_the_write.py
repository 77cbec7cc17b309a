"""Locks only the write: the balance is read outside the lock, so it is stale when written.

caught by: test_five_deposits_at_once_lose_no_update
says: a lock around the write alone
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
        balance = await self.store.read()
        new_balance = balance + amount
        async with self._lock:
            await self.store.write(new_balance)
        await self.send_receipt(amount, new_balance)
        return new_balance
