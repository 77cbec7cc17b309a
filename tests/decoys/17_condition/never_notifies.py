"""Waits with wait_for() but never calls notify_all(), so nobody wakes the waiting tasks.

caught by: test_a_get_on_an_empty_buffer_waits_for_the_next_put
says: put() does not notify
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

    async def get(self) -> str:
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._items) > 0)
            return self._items.popleft()
