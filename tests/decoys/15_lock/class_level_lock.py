"""Creates the asyncio.Lock in the class body, so one lock is shared by every account.

caught by: test_deposits_on_two_accounts_do_not_wait_for_each_other
says: one lock shared by every account
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol


class Store(Protocol):
    async def read(self) -> int: ...

    async def write(self, balance: int) -> None: ...


SendReceipt = Callable[[int, int], Awaitable[None]]


class Account:
    _lock = asyncio.Lock()

    def __init__(self, store: Store, send_receipt: SendReceipt) -> None:
        self.store = store
        self.send_receipt = send_receipt

    async def deposit(self, amount: int) -> int:
        async with self._lock:
            balance = await self.store.read()
            new_balance = balance + amount
            await self.store.write(new_balance)
        await self.send_receipt(amount, new_balance)
        return new_balance
