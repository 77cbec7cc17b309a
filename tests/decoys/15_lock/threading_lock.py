"""Uses threading.Lock: the second deposit blocks the whole event loop waiting for the first.

caught by: test_five_deposits_at_once_lose_no_update
says: asked for the threading.Lock
"""

import threading
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
        self._lock = threading.Lock()

    async def deposit(self, amount: int) -> int:
        with self._lock:
            balance = await self.store.read()
            new_balance = balance + amount
            await self.store.write(new_balance)
        await self.send_receipt(amount, new_balance)
        return new_balance
