"""Calls notify() instead of notify_all(): it wakes one waiter, maybe one that cannot go on.

caught by: test_a_get_wakes_the_waiting_put_even_while_another_get_waits
says: a wake-up was lost
"""

import asyncio
from collections import deque


class BoundedBuffer:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[str] = deque()
        self._changed = asyncio.Condition()

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, item: str) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._items) < self.capacity)
            self._items.append(item)
            self._changed.notify()

    async def get(self) -> str:
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._items) > 0)
            item = self._items.popleft()
            self._changed.notify()
            return item
