"""Keeps the items in an asyncio.Queue(capacity) and lets it do the waiting: no Condition at all.

caught by: test_a_put_on_a_full_buffer_waits_until_a_get_makes_room
says: nothing waited on it
"""

import asyncio
from collections import deque


class BoundedBuffer:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[str] = deque()
        self._changed = asyncio.Condition()
        self._queue: asyncio.Queue[str] = asyncio.Queue(capacity)

    def __len__(self) -> int:
        return self._queue.qsize()

    async def put(self, item: str) -> None:
        await self._queue.put(item)

    async def get(self) -> str:
        return await self._queue.get()
