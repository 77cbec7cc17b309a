"""Checks every 10 ms whether the full queue has room, then put_nowait()s: polling, not waiting.

caught by: test_the_producer_waits_for_room_without_polling
says: Polling
"""

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable

Handle = Callable[[str], Awaitable[str]]


async def worker(queue: asyncio.Queue[str], handle: Handle, results: list[str]) -> None:
    while True:
        item = await queue.get()
        try:
            results.append(await handle(item))
        finally:
            queue.task_done()


async def process_all(items: list[str], handle: Handle, workers: int) -> list[str]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    results: list[str] = []
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(worker(queue, handle, results)) for _ in range(workers)]
        await queue.join()
        for task in tasks:
            task.cancel()
    return results


async def produce_and_consume(
    source: AsyncIterable[str], handle: Handle, workers: int, maxsize: int
) -> list[str]:
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize)
    results: list[str] = []
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(worker(queue, handle, results)) for _ in range(workers)]
        async for item in source:
            while queue.full():
                await asyncio.sleep(0.01)
            queue.put_nowait(item)
        await queue.join()
        for task in tasks:
            task.cancel()
    return results
