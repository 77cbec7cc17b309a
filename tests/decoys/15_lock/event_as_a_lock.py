"""Uses an asyncio.Event as a "free" flag: set() wakes every waiting deposit at once, not one.

caught by: test_five_deposits_at_once_lose_no_update
says: wakes every waiting deposit
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
        self._free = asyncio.Event()
        self._free.set()

    async def deposit(self, amount: int) -> int:
        await self._free.wait()
        self._free.clear()
        try:
            balance = await self.store.read()
            new_balance = balance + amount
            await self.store.write(new_balance)
        finally:
            self._free.set()
        await self.send_receipt(amount, new_balance)
        return new_balance
