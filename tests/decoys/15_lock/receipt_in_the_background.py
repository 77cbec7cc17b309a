"""Sends the receipt in a background task (create_task), so deposit() returns before it is sent.

caught by: test_a_deposit_returns_the_new_balance_once_its_receipt_is_sent
says: returned before its receipt was sent
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
        asyncio.create_task(self.send_receipt(amount, new_balance))
        return new_balance
