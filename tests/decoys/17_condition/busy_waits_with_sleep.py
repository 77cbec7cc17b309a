"""Skips the Condition and loops on 'while full: await asyncio.sleep(0)', polling the buffer.

caught by: test_a_get_on_an_empty_buffer_waits_for_the_next_put
says: busy-waits
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
        while len(self._items) >= self.capacity:
            await asyncio.sleep(0)
        self._items.append(item)

    async def get(self) -> str:
        while not self._items:
            await asyncio.sleep(0)
        return self._items.popleft()
