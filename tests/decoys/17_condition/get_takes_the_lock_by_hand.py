"""Takes the condition's lock by hand in get() (put uses `async with`): a cancelled get keeps it.

caught by: test_a_get_cancelled_while_it_waits_takes_nothing_and_the_other_get_is_served
says: the cancelled get() kept it
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
        await self._changed.acquire()
        await self._changed.wait_for(lambda: len(self._items) > 0)
        item = self._items.popleft()
        self._changed.notify_all()
        self._changed.release()
        return item
