"""Takes the condition's lock with acquire() and release() by hand: a cancelled put keeps it held.

caught by: test_a_put_cancelled_while_it_waits_leaves_the_buffer_usable
says: left the condition's lock held
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
        await self._changed.acquire()
        await self._changed.wait_for(lambda: len(self._items) < self.capacity)
        self._items.append(item)
        self._changed.notify_all()
        self._changed.release()

    async def get(self) -> str:
        await self._changed.acquire()
        await self._changed.wait_for(lambda: len(self._items) > 0)
        item = self._items.popleft()
        self._changed.notify_all()
        self._changed.release()
        return item
