"""Takes items with pop() instead of popleft(), so the newest item comes out first.

caught by: test_items_come_out_in_the_order_they_went_in
says: first in, first out
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
            item = self._items.pop()
            self._changed.notify_all()
            return item
