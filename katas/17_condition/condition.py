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
        raise NotImplementedError("write put(): wait until there is room, add the item, notify")

    async def get(self) -> str:
        """Wait until there is an item, remove the oldest, wake the tasks that wait, return it."""
        raise NotImplementedError("write get(): wait until there is an item, take it, notify")
