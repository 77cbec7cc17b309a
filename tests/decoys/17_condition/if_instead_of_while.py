"""Checks for room with 'if ...: await wait()', so a woken put does not look again.

caught by: test_one_get_lets_only_one_of_two_waiting_puts_in
says: must check the condition again
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
            if len(self._items) >= self.capacity:
                await self._changed.wait()
            self._items.append(item)
            self._changed.notify_all()

    async def get(self) -> str:
        async with self._changed:
            if not self._items:
                await self._changed.wait()
            item = self._items.popleft()
            self._changed.notify_all()
            return item
