"""Waits for the running deposit by checking a busy flag every 10 ms instead of on a Lock.

caught by: test_a_deposit_waits_for_the_lock_without_polling
says: Polling
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
        self._busy = False

    async def deposit(self, amount: int) -> int:
        while self._busy:
            await asyncio.sleep(0.01)
        self._busy = True
        try:
            balance = await self.store.read()
            new_balance = balance + amount
            await self.store.write(new_balance)
        finally:
            self._busy = False
        await self.send_receipt(amount, new_balance)
        return new_balance
