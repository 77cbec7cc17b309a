"""Waits for the running deposit with a busy flag and time.sleep(), which freezes the event loop.

caught by: test_five_deposits_at_once_lose_no_update
says: called time.sleep(0.01)
"""

import time
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
            time.sleep(0.01)
        self._busy = True
        try:
            balance = await self.store.read()
            new_balance = balance + amount
            await self.store.write(new_balance)
        finally:
            self._busy = False
        await self.send_receipt(amount, new_balance)
        return new_balance
