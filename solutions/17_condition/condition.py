"""Kata 17: Condition - wait until there is room."""

import asyncio
from collections import deque


class BoundedBuffer:
    """A first-in, first-out buffer of at most `capacity` items, shared by producers and consumers.

    put() waits while the buffer is full, get() waits while it is empty. Both wait on the one
    asyncio.Condition `self._changed`, which is notified whenever the buffer changes.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[str] = deque()
        self._changed = asyncio.Condition()

    def __len__(self) -> int:
        """How many items the buffer holds now."""
        return len(self._items)

    async def put(self, item: str) -> None:
        """Wait until there is room, add `item` at the end, and wake the tasks that wait."""
        async with self._changed:
            # Sleep until notified; wait_for checks again on every wake-up (another may be first).
            await self._changed.wait_for(lambda: len(self._items) < self.capacity)
            self._items.append(item)
            # Getters and putters wait on the same condition: wake them all, each checks its own.
            self._changed.notify_all()

    async def get(self) -> str:
        """Wait until there is an item, remove the oldest, wake the tasks that wait, return it."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._items) > 0)
            item = self._items.popleft()
            # There is room now: a waiting put can go on.
            self._changed.notify_all()
            return item
