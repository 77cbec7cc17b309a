"""Never waits in put(): items are added even when the buffer is already full.

caught by: test_a_put_on_a_full_buffer_waits_until_a_get_makes_room
says: it did not wait
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
            self._items.append(item)
            self._changed.notify_all()

    async def get(self) -> str:
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._items) > 0)
            item = self._items.popleft()
            self._changed.notify_all()
            return item
