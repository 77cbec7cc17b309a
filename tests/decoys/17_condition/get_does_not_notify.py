"""Notifies after a put but not after a get, so a put waiting for room is never woken.

caught by: test_a_put_on_a_full_buffer_waits_until_a_get_makes_room
says: get() does not notify
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
            self._changed.notify_all()

    async def get(self) -> str:
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._items) > 0)
            return self._items.popleft()
