"""Reads the store once and keeps the balance on the account, missing changes made elsewhere.

caught by: test_every_deposit_reads_the_balance_from_the_store
says: was kept on the account from the previous deposit
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
        self._balance: int | None = None

    async def deposit(self, amount: int) -> int:
        async with self._lock:
            if self._balance is None:
                self._balance = await self.store.read()
            new_balance = self._balance + amount
            self._balance = new_balance
            await self.store.write(new_balance)
        await self.send_receipt(amount, new_balance)
        return new_balance
