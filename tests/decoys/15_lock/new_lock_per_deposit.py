"""Creates the asyncio.Lock inside deposit(), so every deposit has its own lock and none waits.

caught by: test_five_deposits_at_once_lose_no_update
says: made an asyncio.Lock of its own
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

    async def deposit(self, amount: int) -> int:
        async with asyncio.Lock():
            balance = await self.store.read()
            new_balance = balance + amount
            await self.store.write(new_balance)
        await self.send_receipt(amount, new_balance)
        return new_balance
