"""Gives the lock back when a deposit is cancelled, but not when the store raises: it stays held.

caught by: test_a_deposit_whose_store_fails_raises_and_gives_the_lock_back
says: skipped the release
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
        await self._lock.acquire()
        try:
            balance = await self.store.read()
            new_balance = balance + amount
            await self.store.write(new_balance)
        except asyncio.CancelledError:
            self._lock.release()
            raise
        self._lock.release()
        await self.send_receipt(amount, new_balance)
        return new_balance
